"""What this process runs the kernels with: the instruction set and the kernel
shapes. The ISA is the one forced with --isa (force_isa), else for a weight
format's GEMV the path its tuning chose, else the widest this CPU has. The
shapes in force are the built-in ones until bwbench.tune applies a host's
(note_shapes), and every result's provenance records them (summary)."""
from bwbench import _kernels, formats
from bwbench.errors import UsageError

ISAS = _kernels.ISAS

_forced = None
_tuned_isa = {}      # weight format -> the ISA path its tuning chose
_shapes = {"source": "built-in"}


def check_isa(name: str) -> str:
    """name if this CPU runs it; UsageError (one line) otherwise."""
    if name not in ISAS:
        raise UsageError(f"unknown ISA {name!r}: choose from {', '.join(ISAS)}")
    if name != "generic" and not _kernels.isa_supported(name):
        raise UsageError(f"this CPU cannot run {name} (it has: {', '.join(supported_isas())})")
    return name


def supported_isas() -> list:
    """Every ISA this CPU runs, narrowest first (generic: plain C, everywhere)."""
    return ["generic"] + [isa for isa in ISAS[1:] if _kernels.isa_supported(isa)]


def force_isa(name) -> None:
    """Every measurement in this process uses name (None: the tuned or widest choice again)."""
    global _forced
    _forced = None if name is None else check_isa(name)


def forced_isa():
    return _forced


def isa(fmt: str = None) -> str:
    """The ISA a kernel runs with: forced, else the tuned path of fmt's GEMV, else the widest."""
    return _forced or _tuned_isa.get(fmt) or _kernels.best_isa()


def gemv_path(fmt: str, isa_name: str = None) -> str:
    """The ISA whose kernel really runs fmt's GEMV when isa_name (default isa(fmt)) is
    asked for: an AVX-512 CPU without VNNI runs q8_0 and q4_0 on AVX2."""
    return _kernels.gemv_path(isa_name or isa(fmt), fmt)


def note_shapes(summary: dict, tuned_isa: dict) -> None:
    """Records the shapes bwbench.tune set in the C core and the ISA each format's tuning chose."""
    global _shapes, _tuned_isa
    _shapes, _tuned_isa = summary, dict(tuned_isa)


def summary() -> dict:
    """The choices in force, for provenance and `info`."""
    return {**_shapes, "forced_isa": _forced, "read": _kernels.read_shape(), "gemm": _kernels.gemm_blocking(),
            "gemv": {fmt: {"isa": gemv_path(fmt), **_kernels.gemv_shape(fmt, gemv_path(fmt))}
                     for fmt in formats.QUANTISED}}
