"""Interconnect benchmarks under MPI, as the OSU micro-benchmarks run them:
numpy buffers and mpi4py's buffer (upper-case) calls.

- pingpong: half the round trip of one message; bw: a window of non-blocking
  sends, then a 1-element acknowledgement; bibw: both sides send a window at
  once. Between rank 0 and the last rank (on another host when there is one).
- allreduce, allgather, reduce_scatter over all ranks: algorithm bandwidth
  S / t and bus bandwidth (bwbench.link.bus_factor), S the whole vector
  (all-gather: the gathered output; reduce-scatter: the input).
- Every message carries a sequence stamp that the receiver checks on every
  receive; the rest of each receive buffer is compared with its pattern after
  the timed loops. A wrong byte anywhere and nothing is reported.
- Iterations are calibrated (doubling until the better of two loops lasts a
  quarter of the target; this is the warm-up), then SAMPLES loops are timed;
  a sample is the slowest rank's loop time (as IMB) over the iterations; the
  best sample is reported, all are kept.

mpi4py is imported where it is used: importing it starts MPI, and the other
commands import this module too.
"""
import itertools
import math
import os
from time import perf_counter

import numpy as np

from bwbench.errors import UsageError
from bwbench.link import bus_factor
from bwbench.machine import memory_bytes

HOW_TO_RUN = ("the interconnect benchmark runs under MPI: pip install 'bwbench[mpi]', then "
              "mpiexec -n 2 python -m bwbench interconnect")
SAMPLES = 5
WINDOW, WINDOW_BYTES = 64, 16 << 20   # OSU's window of 64 messages, capped at 16 MiB in flight
MAX_ITERATIONS = 1 << 20
STAMP_MOD = 4096   # collective stamps are small whole floats, exact in float32 sums


def world():
    """MPI's world communicator, or UsageError saying how to run: without
    mpi4py, or when started without mpiexec (a world of one rank)."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as error:
        raise UsageError(f"{HOW_TO_RUN} ({type(error).__name__}: {error})") from None
    if MPI.COMM_WORLD.Get_size() < 2:
        raise UsageError(f"{HOW_TO_RUN} (this is a world of 1 rank: start at least 2 with mpiexec)")
    return MPI.COMM_WORLD


def library() -> dict:
    import mpi4py
    from mpi4py import MPI

    version = MPI.Get_library_version().replace("\0", "").splitlines()[0].strip()   # Open MPI ends it with NUL
    return {"library": version, "mpi4py": mpi4py.__version__}


def placement(comm) -> list:
    """Host name and allowed CPUs of every rank, gathered on every rank."""
    from mpi4py import MPI

    mine = {"host": MPI.Get_processor_name(), "cpus": sorted(os.sched_getaffinity(0))}
    return [{"rank": rank, **where} for rank, where in enumerate(comm.allgather(mine))]


def check_memory(comm, sizes) -> None:
    """Refuses sizes whose buffers (about 3 x the largest per rank) would not fit."""
    need = 3 * max(max(sizes), WINDOW_BYTES) * comm.Get_size()
    if need > memory_bytes("MemAvailable"):
        raise UsageError(f"--sizes up to {max(sizes)} B need about {need / 1e9:.1f} GB over "
                         f"{comm.Get_size()} ranks: more than the available memory")


def _pattern(count: int, offset: int, dtype) -> np.ndarray:
    """Small whole numbers, different for each slot (offset), exact in any dtype."""
    return ((np.arange(count) + offset) % 13 + 1).astype(dtype)


class PointToPoint:
    """pingpong, bw or bibw between rank 0 and the last rank; other ranks idle.
    Slots are rows of one array so a whole window is stamped and checked at once."""

    def __init__(self, comm, test: str, size: int):
        from mpi4py import MPI

        self.comm, self.test, self.bytes, self.waitall = comm, test, size, MPI.Request.Waitall
        rank, last = comm.Get_rank(), comm.Get_size() - 1
        self.active, self.first = rank in (0, last), rank == 0
        self.peer = last if rank == 0 else 0
        self.window = 1 if test == "pingpong" else max(1, min(WINDOW, WINDOW_BYTES // size))
        self.divisor = 2 if test == "pingpong" else self.window   # iteration time per message
        self.moved = 2 * size if test == "bibw" else size         # bytes per message time
        sends = self.active and (test == "bibw" or self.first)
        receives = self.active and (test != "bw" or not self.first)
        expected = np.stack([_pattern(size, slot, np.uint8) for slot in range(self.window)]) if self.active else None
        self.send = expected.copy() if sends else None
        self.recv = np.zeros_like(expected) if receives else None
        self.expected, self.wrong_stamps = expected, 0
        # the first 8 bytes of every slot, as one int64 each: views, so stamping writes the buffers
        self.send_stamps = self.send.view(np.int64)[:, 0] if sends else None
        self.recv_stamps = self.recv.view(np.int64)[:, 0] if receives else None
        self.ack = np.zeros(1, np.uint8)
        self.slots = np.arange(self.window)

    def step(self, seq: int) -> None:
        if not self.active:
            return
        if self.test == "pingpong":
            self._pingpong(seq)
            return
        stamps = seq * self.window + self.slots
        if self.send is not None:
            self.send_stamps[:] = stamps
        requests = ([self.comm.Irecv(row, self.peer) for row in self.recv] if self.recv is not None else []) \
            + ([self.comm.Isend(row, self.peer) for row in self.send] if self.send is not None else [])
        self.waitall(requests)
        if self.recv is not None:
            self.wrong_stamps += int(np.count_nonzero(self.recv_stamps != stamps))
        if self.test == "bw":   # the acknowledgement closes the window
            (self.comm.Recv if self.first else self.comm.Send)(self.ack, self.peer)

    def _pingpong(self, seq: int) -> None:
        if self.first:
            self.send_stamps[0] = seq
            self.comm.Send(self.send, self.peer)
            self.comm.Recv(self.recv, self.peer)
        else:
            self.comm.Recv(self.recv, self.peer)
            self.wrong_stamps += self.recv_stamps[0] != seq
            self.comm.Send(self.recv, self.peer)   # the echo: what came back is what was sent
            return
        self.wrong_stamps += self.recv_stamps[0] != seq

    def wrong(self) -> int:
        """Wrong stamps seen, plus wrong bytes (past the stamp) in the receive buffers now."""
        if self.recv is None:
            return self.wrong_stamps
        return self.wrong_stamps + int(np.count_nonzero(self.recv[:, 8:] != self.expected[:, 8:]))


class Collective:
    """allreduce, allgather or reduce_scatter (equal blocks) of float32 over
    all ranks. Rank r sends (r+1) x pattern with stamps seq + r at the head of
    each block, so every result is a small whole number known in advance."""

    def __init__(self, comm, test: str, size: int):
        from mpi4py import MPI

        self.comm, self.test, self.sum = comm, test, MPI.SUM
        n, rank = comm.Get_size(), comm.Get_rank()
        self.n, self.rank = n, rank
        self.block = size // 4 if test == "allreduce" else size // (4 * n)
        self.count = self.block * (1 if test == "allreduce" else n)   # elements of S
        self.bytes, self.moved, self.divisor = 4 * self.count, 4 * self.count, 1
        self.factor = bus_factor(test, n)
        pattern = _pattern(self.count, 0, np.float32)
        self.send = (rank + 1) * (pattern if test != "allgather" else pattern[:self.block])
        out = self.block if test == "reduce_scatter" else self.count
        self.recv = np.zeros(out, np.float32)
        ranks_sum = n * (n + 1) // 2
        self.expected = {"allreduce": ranks_sum * pattern,
                         "allgather": np.concatenate([(r + 1) * pattern[:self.block] for r in range(n)]),
                         "reduce_scatter": ranks_sum * pattern[rank * self.block:(rank + 1) * self.block]}[test]
        self.wrong_stamps = 0

    def step(self, seq: int) -> None:
        stamp = seq % STAMP_MOD
        if self.test == "allreduce":
            self.send[0] = stamp + self.rank
            self.comm.Allreduce(self.send, self.recv, self.sum)
            self.wrong_stamps += self.recv[0] != self.n * stamp + self.n * (self.n - 1) // 2
        elif self.test == "allgather":
            self.send[0] = stamp + self.rank
            self.comm.Allgather(self.send, self.recv)
            self.wrong_stamps += int(np.count_nonzero(self.recv[::self.block] != stamp + np.arange(self.n)))
        else:
            self.send[::self.block] = stamp + self.rank
            self.comm.Reduce_scatter_block(self.send, self.recv, self.sum)
            self.wrong_stamps += self.recv[0] != self.n * stamp + self.n * (self.n - 1) // 2

    def wrong(self) -> int:
        heads = np.zeros(self.recv.size, bool)
        heads[::self.block] = True   # stamped elements, checked at every step
        return int(self.wrong_stamps) + int(np.count_nonzero((self.recv != self.expected) & ~heads))


def make_test(comm, test: str, size: int):
    """The loop of one test at one size, or None where S splits into less than one element per rank."""
    if test in ("pingpong", "bw", "bibw"):
        return PointToPoint(comm, test, size)
    loop = Collective(comm, test, size)
    return loop if loop.block else None


def time_loop(comm, loop, target_s: float) -> tuple:
    """(seconds per iteration of SAMPLES timed loops, each the slowest rank's; iterations per loop)."""
    from mpi4py import MPI

    seq = itertools.count()

    def timed(iterations: int) -> float:
        comm.Barrier()
        start = perf_counter()
        for _ in range(iterations):
            loop.step(next(seq))
        return comm.allreduce(perf_counter() - start, op=MPI.MAX)

    iterations = 1
    # the better of two loops, so that one stall does not end the calibration early
    while (elapsed := min(timed(iterations), timed(iterations))) < target_s / 4 and iterations < MAX_ITERATIONS:
        iterations *= 2
    iterations = max(1, min(MAX_ITERATIONS, math.ceil(iterations * target_s / elapsed)))
    return [timed(iterations) / iterations for _ in range(SAMPLES)], iterations


def row(loop, test: str, samples, iterations: int) -> dict:
    """One line of the JSON's `tests`: the best sample's latency and bandwidths."""
    per_message = min(samples) / loop.divisor
    record = {"test": test, "bytes": loop.bytes, "latency_us": per_message * 1e6,
              "algbw_gbps": loop.moved / per_message / 1e9}
    if isinstance(loop, Collective):
        record["busbw_gbps"] = record["algbw_gbps"] * loop.factor
    else:
        record["window"] = loop.window
    record.update(iterations=iterations, samples_us=[s / loop.divisor * 1e6 for s in samples])
    return record


def measure_one(comm, test: str, size: int, target_s: float) -> tuple:
    """(row, wrong) of one test at one size on every rank: row None where the
    size does not split over the ranks; wrong counts the wrong stamps and bytes
    of all ranks (the row is not to be reported unless it is 0)."""
    from mpi4py import MPI

    loop = make_test(comm, test, size)
    if loop is None:
        return None, 0
    samples, iterations = time_loop(comm, loop, target_s)
    return row(loop, test, samples, iterations), comm.allreduce(loop.wrong(), op=MPI.SUM)


def section(comm, rows, target_s: float) -> dict:
    """The result JSON's `interconnect` object."""
    return {**library(), "ranks": comm.Get_size(), "placement": placement(comm),
            "pair": [0, comm.Get_size() - 1], "target_s": target_s, "samples": SAMPLES, "tests": rows}
