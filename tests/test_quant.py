"""Weight formats: llama.cpp's exact block layouts, f16 and bf16 rounding, round trips,
and the GEMV of every format on every ISA against numpy."""
import numpy as np
import pytest

from bwbench import _kernels, choices, cli, quant
from bwbench.errors import UsageError, ValidationError
from conftest import THREADS

RNG = np.random.default_rng(11)


def q8_0_reference(x):
    """llama.cpp's quantize_row_q8_0_ref, block by block, in numpy."""
    out = bytearray()
    for block in x.reshape(-1, 32):
        d = np.float32(np.abs(block).max()) / np.float32(127)
        inverse = np.float32(1) / d if d else np.float32(0)
        out += np.float16(d).tobytes() + np.round(block * inverse).astype(np.int8).tobytes()
    return bytes(out)


def q4_0_reference(x):
    """llama.cpp's quantize_row_q4_0_ref: value + 8 in a nibble, weights j and j + 16 in byte j."""
    out = bytearray()
    for block in x.reshape(-1, 32):
        biggest = block[np.argmax(np.abs(block))]
        d = np.float32(biggest) / np.float32(-8)
        inverse = np.float32(1) / d if d else np.float32(0)
        q = np.minimum(15, (block * inverse + np.float32(8.5)).astype(np.int8)).astype(np.uint8)
        out += np.float16(d).tobytes() + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


@pytest.mark.parametrize("fmt, reference, size", [("q8_0", q8_0_reference, 34), ("q4_0", q4_0_reference, 18)])
def test_block_layouts_are_llama_cpps_byte_for_byte(fmt, reference, size):
    x = (RNG.standard_normal((3, 96)) * 2).astype(np.float32)
    x[1, :32] = 0   # an all-zero block: scale 0
    rows = quant.quantize(x, fmt)
    assert rows.shape == (3, 3 * size) and quant.row_bytes(fmt, 96) == 3 * size
    for row, values in zip(rows, x):
        assert row.tobytes() == reference(values)
    assert quant.BYTES_PER_WEIGHT[fmt] == size / 32


def test_bf16_rounds_to_nearest_even():
    bits = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x3F80FFFF, 0xC2C9ABCD, 0x7F7FFFFF], np.uint32)
    x = bits.view(np.float32).reshape(1, -1)
    want = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    assert quant.quantize(x, "bf16").view(np.uint16).ravel().tolist() == want.tolist()
    assert want[0] == 0x3F80 and want[1] == 0x3F82   # ties go to the even neighbour


def test_f16_is_numpys_float16_bit_for_bit():
    """Round to nearest even, subnormals, overflow to infinity, NaN kept: as np.float16."""
    x = np.concatenate([RNG.uniform(-3, 3, 56), [6e-8, -3e-6, 65519, 65520, 1e6, -np.inf, np.nan, 0.0]])
    x = x.astype(np.float32).reshape(1, -1)
    rows = quant.quantize(x, "f16")
    with np.errstate(over="ignore"):   # 65520 and 1e6 overflow to infinity, as they should
        want = x.astype(np.float16)
    assert rows.shape == (1, 128) and np.array_equal(rows.view(np.float16), want, equal_nan=True)
    assert np.array_equal(quant.dequantize(rows, "f16", 64), want.astype(np.float32), equal_nan=True)
    assert quant.BYTES_PER_WEIGHT["f16"] == 2


def test_the_format_table_is_the_c_cores():
    from bwbench import formats
    assert formats.NAMES == _kernels.FORMATS == ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K")
    assert [formats.FORMATS[f].bytes_per_weight for f in formats.NAMES] == [4, 2, 2, 34 / 32, 18 / 32, 144 / 256,
                                                                            210 / 256]
    for fmt in formats.QUANTISED:
        assert quant.row_bytes(fmt, 512) == 512 * formats.FORMATS[fmt].bytes_per_weight
    assert [f.name for f in formats.FORMATS.values() if f.quantised_x] == ["q8_0", "q4_0", "q4_K", "q6_K"]


@pytest.mark.parametrize("fmt", ["q4_K", "q6_K"])
def test_k_quants_are_ggmls_layout_as_ggufs_own_dequantiser_reads_it(fmt):
    """Any bytes (random ones too, whatever their scales) dequantise as gguf's numpy code does, bit for bit;
    bwbench's plain quantiser keeps each weight within half a sub-block step of where it was (q6_K: a whole
    step, for its codes run from -32, the sub-block's value of largest magnitude, to +31 only)."""
    gguf = pytest.importorskip("gguf")
    kind = getattr(gguf.GGMLQuantizationType, fmt.upper())
    x = RNG.uniform(-3, 3, (3, 512)).astype(np.float32)
    for rows in (quant.quantize(x, fmt), RNG.integers(0, 256, (3, quant.row_bytes(fmt, 512)), np.uint8)):
        with np.errstate(invalid="ignore", over="ignore"):   # random scales may be infinities or NaNs
            assert np.array_equal(quant.dequantize(rows, fmt, 512), gguf.quants.dequantize(rows, kind),
                                  equal_nan=True)
    back = quant.dequantize(quant.quantize(x, fmt), fmt, 512)
    allowed = 6 / 15 / 2 if fmt == "q4_K" else 3 / 32   # a sub-block's range over its codes, at most
    assert np.max(np.abs(back - x)) <= allowed * 1.1   # slack: the sub-block scales are 6 or 8 bits
    with pytest.raises(UsageError, match="whole blocks of 256 weights, not 96"):
        quant.row_bytes(fmt, 96)


def test_bf16_round_trip_loses_at_most_half_a_unit_in_the_last_place():
    x = RNG.uniform(-3, 3, (4, 64)).astype(np.float32)
    back = quant.dequantize(quant.quantize(x, "bf16"), "bf16", 64)
    assert np.all(np.abs(back - x) <= np.abs(x) * 2.0**-8)


@pytest.mark.parametrize("fmt, top_code", [("q8_0", 127), ("q4_0", 7)])
def test_block_round_trips_lose_at_most_half_a_step(fmt, top_code):
    """Each value comes back as the nearest multiple of its block's scale d (the fp16 in the block's first two
    bytes) that the codes reach: within half a step |d| / 2. q4_0's codes run from -8 (the block's largest
    value) to +7, so a value above 7.5 steps lands on +7, that far away; q8_0's reach +-127 steps, as far as
    any value goes. Slack: the codes are chosen with the fp32 scale and d is rounded to fp16 (2^-11 relative),
    which moves a code of up to top_code + 1 steps by that much."""
    x = RNG.uniform(-3, 3, (4, 64)).astype(np.float32)
    rows = quant.quantize(x, fmt)
    back = quant.dequantize(rows, fmt, 64)
    block_bytes = int(quant.BYTES_PER_WEIGHT[fmt] * 32)
    d = rows.reshape(-1, block_bytes)[:, :2].copy().view(np.float16).astype(np.float64)   # one scale a block
    steps = x.reshape(-1, 32) / d          # each value in steps of its block's scale
    error = np.abs(back - x).reshape(-1, 32) / np.abs(d)
    allowed = np.maximum(0.5, steps - top_code) + (top_code + 1) * 2.0**-11
    assert np.all(error <= allowed)
    assert np.array_equal(quant.quantize(back, fmt), rows)   # what comes back quantises to the same bytes


@pytest.mark.parametrize("isa", [isa for isa in _kernels.ISAS if _kernels.isa_supported(isa)] + ["generic"])
@pytest.mark.parametrize("fmt", quant.FORMATS)
@pytest.mark.parametrize("threads", THREADS)
def test_gemv_of_every_format_matches_numpy(fmt, isa, threads):
    m, n = 3 * 16 * 8 + 5, 512   # three chunks of rows the team takes as it goes, and rows after the last group;
    # rows of two K-quant super-blocks
    weights = quant.quantize(RNG.uniform(-1, 1, (m, n)).astype(np.float32), fmt)
    x, y = RNG.uniform(-1, 1, n).astype(np.float32), np.full(m, np.nan, np.float32)
    _kernels.qgemv_measure(isa, fmt, weights, n, x, y, threads, 0, 0.0)
    exact = quant.dequantize(weights, fmt, n).astype(np.float64)
    assert np.all(np.abs(y - exact @ x) <= quant.tolerance(exact, x, fmt))
    assert np.max(np.abs(y - exact @ x)) < 0.05 * np.max(np.abs(exact @ x))


def test_measured_gemv_counts_the_formats_bytes():
    m = quant.measure_gemv(64, 256, "q4_0", threads=1)
    assert (m.kernel, m.dtype, m.shape) == ("gemv", "q4_0", (64, 1, 256))
    assert m.bytes == m.reps_per_sample * (64 * 8 * 18 + 4 * (64 + 256))
    assert m.flops == m.reps_per_sample * 2 * 64 * 256


def test_a_wrong_gemv_result_is_refused(monkeypatch):
    real = _kernels.qgemv_measure

    def corrupt(isa, fmt, w, cols, x, y, *rest):
        timing = real(isa, fmt, w, cols, x, y, *rest)
        y[3] += 1.0
        return timing
    monkeypatch.setattr(_kernels, "qgemv_measure", corrupt)
    with pytest.raises(ValidationError, match="1 wrong elements of 16"):
        quant.measure_gemv(16, 64, "q8_0", threads=1)


def test_bad_formats_and_shapes_are_refused(capsys):
    with pytest.raises(UsageError, match="whole blocks of 32 weights, not 40"):
        quant.row_bytes("q8_0", 40)
    with pytest.raises(UsageError, match="unknown weight format 'q5_k'"):
        quant.row_bytes("q5_k", 64)
    with pytest.raises(ValueError, match="contiguous uint8"):
        _kernels.dequantize("q8_0", np.zeros((2, 33), np.uint8), 32)
    assert cli.main(["gemv", "--dtype", "q4_0", "--shape", "64x40"]) == 2
    assert "whole blocks of 32" in capsys.readouterr().err
    assert cli.main(["gemv", "--dtype", "bf16", "--shape", "64x40"]) == 2   # bf16 quantises any width, its GEMV blocks
    assert "bf16 GEMV reads rows of whole blocks of 32 weights, not 40" in capsys.readouterr().err
    assert cli.main(["gemv", "--dtype", "q4_0", "--shape", "64x64", "--transpose"]) == 2
    assert "--transpose" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["f16", "q4_K", "q6_K"])
def test_gemv_dtype_measures_the_new_formats_into_the_json(fmt, tmp_path, capsys):
    from bwbench.results import read_result
    out = tmp_path / "gemv.json"
    assert cli.main(["gemv", "--dtype", fmt, "--shape", "16x256", "--threads", "1", "--json", str(out)]) == 0
    [m] = read_result(str(out))["measurements"]
    assert (m.kernel, m.dtype, m.shape) == ("gemv", fmt, (16, 1, 256))
    assert m.isa == choices.gemv_path(fmt)
    assert cli.main(["gemv", "--dtype", fmt, "--shape", "16x96"]) == (2 if fmt.endswith("_K") else 0)
