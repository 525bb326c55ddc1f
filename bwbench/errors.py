"""How a benchmark refuses to give a number: one exception type per cause, and
the exit status the command line gives each (cli.main)::

    0    success
    1    ValidationError: a kernel computed a wrong result, so its time is not reported
    2    UsageError and its subclasses: bad input, or a host that cannot give what
         was asked (threads, memory, an ISA, CPU pinning)
    3    KernelError: the C core returned an error code this wrapper does not know
    130  interrupted (Ctrl-C); nothing written
"""


class UsageError(ValueError):
    """Bad input: an unknown name, an impossible size or thread count, an unusable path.
    The command line prints its message as one line and exits with status 2."""


class ArgumentError(UsageError):
    """C's BW_EARGS: a size of zero, a byte count that overflows, a wrong shape or dtype."""


class OutOfMemoryError(UsageError):
    """C's BW_ENOMEM: the arrays could not be allocated."""


class ThreadsError(UsageError):
    """C's BW_ETHREADS: the host cannot run the threads asked for (affinity mask,
    OMP_THREAD_LIMIT)."""


class UnsupportedError(UsageError):
    """C's BW_EUNSUPPORTED: the kernel, variant or ISA is not available on this host."""


class AffinityError(UsageError):
    """C's BW_EAFFINITY: the threads could not be pinned to their CPUs."""


class ValidationError(RuntimeError):
    """A kernel computed a wrong result, so its timing is not reported."""


class KernelError(RuntimeError):
    """An error code the C core returned that the wrapper does not know: a bug."""


EXIT_STATUS = {ValidationError: 1, UsageError: 2, KernelError: 3}
