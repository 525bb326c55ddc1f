"""Sizes and shapes on the command line, sizes in tables: SI (kB, MB, GB) and
binary (KiB, MiB, GiB) units, MxNxK shapes."""
import re
from fractions import Fraction

from bwbench.errors import UsageError

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """'2GiB' -> 2147483648, '16kB' -> 16000; a positive whole number of bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match and match.group(2).lower()
    if not match or unit not in _UNITS or len(match.group(1)) > 30:
        raise UsageError(f"invalid size {text!r}: use a number with B, kB, MB, GB, KiB, MiB or GiB")
    size = int(Fraction(match.group(1)) * _UNITS[unit])   # exact: no float rounding, no overflow
    if size <= 0:
        raise UsageError(f"invalid size {text!r}: must be larger than zero")
    return size


def format_bytes(size: float) -> str:
    """Binary units, as cache sizes are: 32 KiB, 1.5 MiB, 2 GiB."""
    units = ("B", "KiB", "MiB", "GiB")
    step = 0
    while size >= 1000 and step < len(units) - 1:   # 1000, not 1024: "1 GiB", not "1024 MiB"
        size /= 1024
        step += 1
    return f"{size:.3g} {units[step]}"


def parse_shape(text: str, dims: int) -> tuple:
    """'2048x2048x2048' -> (2048, 2048, 2048): `dims` positive whole numbers."""
    parts = text.lower().split("x")
    if len(parts) != dims or not all(re.fullmatch(r"\s*[0-9]{1,18}\s*", p) for p in parts):
        form = "x".join("MNK"[:dims]) if dims == 3 else "MxN"
        raise UsageError(f"invalid shape {text!r}: expected {form} with positive whole numbers")
    shape = tuple(int(p) for p in parts)
    if min(shape) < 1:
        raise UsageError(f"invalid shape {text!r}: every dimension must be at least 1")
    return shape
