"""Errors that the CLI reports as one line with exit status 2."""


class UsageError(ValueError):
    """Bad user input: a wrong name, key, value, file or directory.

    The message is one line that names the problem and, where there is a
    finite set, what is allowed. The CLI prints it and exits with status 2.
    """


def choices(values) -> str:
    """Formats allowed values for an error message: ``a, b, c``."""
    return ", ".join(sorted(str(v) for v in values))


class PluginError(UsageError):
    """A registered entry's code cannot be used as the contract says.

    A factory that is not ``"module:function"``, does not import or is not
    callable; a name registered twice; a model whose ``loss`` returns the wrong
    structure. The message names the entry and, for a plugin's entry, its
    distribution. ``genbench run`` prints it as one line and exits with 2; a
    suite records the run as failed and goes on.
    """
