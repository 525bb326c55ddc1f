"""The weight formats, one entry each, as ggml's type traits are: every place
that names a format (quant, inference, reference, tables, the CLI, the
reference engines) reads this table, so a new format is one entry here and
one in the C core's table (bw_fmts in src_c/quant.c), whose numbers this one
takes: name, weights a block, bytes a block, whether its GEMV takes x
quantised to q8_0 blocks. Here are added what Python alone knows: ggml's
name of the type (GGUF files, llama.cpp) and a line saying what it is.

f32 is the engine's plain float32 (no block, no GEMV of its own: the GEMM's);
the others are "quantised" in the sense that the engine stores them packed."""
from dataclasses import dataclass

from bwbench import _kernels
from bwbench.errors import UsageError


@dataclass(frozen=True)
class Format:
    name: str
    block_weights: int   # weights a block (1 for the float formats)
    block_bytes: int
    scale_bytes: int     # bytes leading a GEMV block in the engine's grouped layout
    gemv_weights: int    # weights a GEMV block: 32, or a K-quant's super-block of 256
    quantised_x: bool    # its GEMV multiplies x rounded to q8_0 blocks (else float32 x)
    ggml_type: str       # gguf.GGMLQuantizationType's name
    description: str

    @property
    def bytes_per_weight(self) -> float:
        return self.block_bytes / self.block_weights

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.bytes_per_weight


_PYTHON_ONLY = {
    "f32": ("F32", "IEEE single precision, the engine's own"),
    "f16": ("F16", "IEEE half precision, rounded to nearest even"),
    "bf16": ("BF16", "the top half of a float32, rounded to nearest even"),
    "q8_0": ("Q8_0", "blocks of 32: an fp16 scale d = max|x| / 127, 32 int8 q = round(x / d)"),
    "q4_0": ("Q4_0", "blocks of 32: an fp16 scale d = (signed max) / -8, 32 nibbles q = x / d + 8"),
    "q4_K": ("Q4_K", "super-blocks of 256: fp16 d and dmin, 8 sub-blocks of 32 with 6-bit scales and mins, "
                     "nibbles q, weight = d * sc * q - dmin * m"),
    "q6_K": ("Q6_K", "super-blocks of 256: 16 sub-blocks of 16 with int8 scales, 6-bit q, fp16 d, "
                     "weight = d * sc * (q - 32)"),
}


def _table() -> dict:
    formats = {}
    for traits in _kernels.format_traits():
        ggml_type, description = _PYTHON_ONLY[traits["name"]]
        formats[traits["name"]] = Format(**traits, ggml_type=ggml_type, description=description)
    return formats


FORMATS = _table()                  # every format, f32 first, in the C core's order
NAMES = tuple(FORMATS)
QUANTISED = NAMES[1:]               # the formats the engine stores packed (all but f32)
BY_GGML_TYPE = {f.ggml_type: f for f in FORMATS.values()}


def get(name: str, choices: tuple = NAMES) -> Format:
    """The format called name; UsageError (one line) unless it is one of choices."""
    if name not in choices:
        raise UsageError(f"unknown weight format {name!r}: choose from {', '.join(choices)}")
    return FORMATS[name]
