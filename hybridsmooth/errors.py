"""Errors that the command line turns into a one-line message and exit status 2 (no traceback)."""


class UsageError(ValueError):
    """Bad input from the user: a malformed spec, an impossible step size, a missing file."""


class SpecError(UsageError):
    """A problem spec string that names an unknown problem or key, or has a malformed value."""
