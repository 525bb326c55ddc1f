"""The two ways a benchmark refuses to give a number."""


class UsageError(ValueError):
    """Bad input: an unknown name, an impossible size or thread count, an unusable path.
    The command line prints its message as one line and exits with status 2."""


class ValidationError(RuntimeError):
    """A kernel computed a wrong result, so its timing is not reported."""
