"""Errors that the CLI reports as one line with exit status 2."""


class UsageError(ValueError):
    """Bad user input: a wrong name, key, value, file or directory.

    The message is one line that names the problem and, where there is a
    finite set, what is allowed. The CLI prints it and exits with status 2.
    """


def choices(values) -> str:
    """Formats allowed values for an error message: ``a, b, c``."""
    return ", ".join(sorted(str(v) for v in values))
