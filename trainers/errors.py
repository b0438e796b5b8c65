"""Errors for bad user input (config, model, data). The CLI prints them and exits 2, no traceback."""


class UserError(Exception):
    """Something the user can fix: the message names the file, key or model and says how."""


class ConfigError(UserError):
    """A config file or override is wrong: unknown key, wrong type, out-of-range value, missing file."""
