"""The link under MPI: ping-pong latency and all-reduce bus bandwidth of 2
ranks on this host. asv runs a suite in one process, so setup_cache starts the
MPI job (`mpiexec -n 2 python -m bwbench interconnect`) once and the track_
methods read its JSON. Skipped where mpi4py or mpiexec is missing: asv's own
environments have neither unless asv.conf.json's matrix adds the `mpi` extra's
packages."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

SIZES = ["8B", "64KiB", "1MiB", "16MiB"]


def _mpiexec():
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


class Interconnect:
    timeout = 300

    def setup_cache(self):
        if importlib.util.find_spec("mpi4py") is None or not _mpiexec():
            return {}   # not None: for a None cache asv passes no `link`, and a parameter would land there
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "link.json")
            subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "bwbench", "interconnect", "--tests",
                            "pingpong,allreduce", "--sizes", ",".join(SIZES), "--json", path], check=True,
                           env={**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
            with open(path) as f:
                return json.load(f)["interconnect"]

    def setup(self, link, *params):
        if not link:
            raise NotImplementedError("needs mpi4py and mpiexec (the `mpi` extra)")

    @staticmethod
    def _row(link, test, size):
        from bwbench.units import parse_size
        return next(row for row in link["tests"] if row["test"] == test and row["bytes"] == parse_size(size))

    def track_pingpong_us(self, link):
        return self._row(link, "pingpong", "8B")["latency_us"]

    track_pingpong_us.unit = "us"

    def track_allreduce_busbw_gbps(self, link, size):
        return self._row(link, "allreduce", size)["busbw_gbps"]

    track_allreduce_busbw_gbps.params = SIZES
    track_allreduce_busbw_gbps.param_names = ["size"]
    track_allreduce_busbw_gbps.unit = "GB/s"
