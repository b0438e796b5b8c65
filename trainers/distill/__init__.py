"""Distillation from a teacher: the teacher set up live or read from a top-k logit cache, the
vocabulary check between teacher and student, the distill loss step handed to the loop, and the
teacher-generated traces (prompts and generation) that sequence-level distillation trains on."""
