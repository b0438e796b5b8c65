"""Errors that data_tools raises for bad user input; the CLI prints them and exits 2."""


class DataError(Exception):
    """Bad input data or data config: the message names the file, row or key at fault."""
