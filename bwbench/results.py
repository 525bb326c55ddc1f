"""The result JSON (schema bwbench/1): written atomically, read back with checks."""
import contextlib
import json
import os
import tempfile

from bwbench.errors import UsageError
from bwbench.measure import Measurement
from bwbench.provenance import provenance

SCHEMA = "bwbench/1"


def check_writable(path: str) -> None:
    """Refuses a path that cannot be written before any time is spent measuring."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: not a writable file path")


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w"):
    """The one way bwbench writes a file: to a temporary file beside path, renamed
    over it only when the writing succeeded, so a reader never sees half a file
    and an error or Ctrl-C leaves the old file (or none)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bwbench-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_result(path: str, machine: dict, measurements, **sections) -> None:
    """Writes the document atomically, with its provenance."""
    check_writable(path)
    write_document(path, {"schema": SCHEMA, "machine": machine, "provenance": provenance(),
                          "measurements": [m.to_dict() for m in measurements], **sections})


def write_document(path: str, document: dict) -> None:
    """The one place a result document is written (the tests check each one
    against the schema here, bwbench.schema)."""
    with atomic_write(path) as f:
        json.dump(document, f, indent=1)


def read_result(path: str) -> dict:
    """The document with `measurements` as Measurement objects; UsageError if it is
    missing, corrupt, truncated or of another schema."""
    try:
        with open(path) as f:
            document = json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise UsageError(f"{path} is not a {SCHEMA} result")
    try:
        document["measurements"] = [Measurement.from_dict(m) for m in document.get("measurements", [])]
    except (KeyError, TypeError) as error:
        raise UsageError(f"{path} has a malformed measurement: {error}") from None
    return document
