"""Errors for bad user input (config, model, data). The CLI prints them and exits 2, no traceback."""


class UserError(Exception):
    """Something the user can fix: the message names the file, key or model and says how."""


class ConfigValueError(UserError, ValueError):
    """A config value a computation cannot use (an unknown LoRA target, say): the user's to fix
    (exit 2), and still a ValueError for library callers that catch that."""


class ConfigError(UserError):
    """A config file or override is wrong: unknown key, wrong type, out-of-range value, missing file."""
