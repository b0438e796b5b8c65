"""Evaluation: MCQA by log-likelihood (mcqa), answer extraction from generations (answers,
number_parse), accuracy with intervals (accuracy, intervals), and script drift (language)."""
