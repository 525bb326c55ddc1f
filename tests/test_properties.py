"""Property-based tests (hypothesis): whatever sizes, thread counts, shapes,
JSON documents and config files a user gives, the command line either works
or ends with exit status 2 and one line on stderr: never a traceback, never a
partial file. Measuring is replaced by a fixed Measurement, so the properties
are about parsing and refusing, and each example takes milliseconds."""
import contextlib
import io
import json
import os
import tempfile
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwbench import cli, machine_info, write_result
from bwbench.errors import UsageError
from bwbench.measure import Measurement
from bwbench.roofline import Roofline
from bwbench.units import parse_shape, parse_size

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fake(kernel="copy", shape=()):
    return Measurement(kernel, "regular", "avx2", "float64", 1, 1600, 16000, 24000, 0, 10,
                       samples_s=(2e-6,) * 10, cpus=(0,), level="L1d", shape=shape)


def run_cli(args, **fakes):
    """(exit status, stderr) of cli.main(args) with the measuring functions faked."""
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        for name, value in fakes.items():
            stack.enter_context(mock.patch.object(cli, name, value))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(err))
        status = cli.main(args)
    return status, err.getvalue()


def assert_works_or_one_line(status, err, path=None):
    assert status in (0, 2), err
    if status == 2:
        assert err.count("\n") == 1 and err.startswith("bwbench: error: "), err
        assert path is None or not os.path.exists(path)
    elif path is not None:
        with open(path) as f:
            json.load(f)   # whole, not half-written


size_text = st.one_of(st.text(max_size=12),
                      st.from_regex(r"-?[0-9]{0,6}(\.[0-9]{0,3})?\s?([kKmMgGtT]i?[bB]?|[bB])?", fullmatch=True))


@SETTINGS
@given(size_text)
def test_parse_size_gives_a_positive_whole_size_or_a_usage_error(text):
    try:
        size = parse_size(text)
    except UsageError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(size, int) and size > 0


@SETTINGS
@given(st.text(max_size=20), st.integers(2, 3))
def test_parse_shape_gives_positive_dimensions_or_a_usage_error(text, dims):
    try:
        shape = parse_shape(text, dims)
    except UsageError:
        return
    assert len(shape) == dims and all(isinstance(d, int) and d >= 1 for d in shape)


@SETTINGS
@given(size=size_text, threads=st.one_of(st.integers(-3, 5000), st.text(max_size=4)),
       kernels=st.lists(st.sampled_from(["copy", "load", "triad", "nope", "", " add"]), min_size=1, max_size=3),
       variant=st.sampled_from(["regular", "nt", "both", "x"]), ntimes=st.integers(-2, 30))
def test_stream_flags_work_or_are_one_line(size, threads, kernels, variant, ntimes):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "r.json")
        args = ["stream", f"--size={size}", f"--threads={threads}", f"--kernels={','.join(kernels)}",
                "--variant", variant, "--ntimes", str(ntimes), "--json", path]
        status, err = run_cli(args, measure_stream=lambda kernel, *a, **k: fake(kernel))
        assert_works_or_one_line(status, err, path)
        assert set(os.listdir(folder)) <= {"r.json"}


@SETTINGS
@given(shapes=st.lists(st.one_of(st.text(max_size=12), st.from_regex(r"[0-9]{1,4}x[0-9]{1,4}(x[0-9]{1,4})?",
                                                                      fullmatch=True)), min_size=1, max_size=3),
       command=st.sampled_from(["gemm", "gemv"]), threads=st.integers(-1, 3))
def test_product_shapes_work_or_are_one_line(shapes, command, threads):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "g.json")
        product = lambda m, n, k, *a, **kw: [fake("gemm", (m, n, k))]
        status, err = run_cli([command, "--shape", *shapes, "--threads", str(threads), "--json", path],
                              measure_products=product)
        assert_works_or_one_line(status, err, path)


@pytest.fixture(scope="module")
def saved_roofline(tmp_path_factory):
    path = tmp_path_factory.mktemp("roofline") / "roofline.json"
    roofline = Roofline(({"level": "L2", "gbps": 200.0}, {"level": "DRAM", "gbps": 50.0}),
                        ({"name": "fma", "dtype": "float32", "gflops": 100.0},
                         {"name": "fma", "dtype": "float64", "gflops": 50.0}), 1, extra={"capacities": {"L2": 10**6}})
    write_result(str(path), machine_info(), [], roofline=roofline.to_dict())
    return str(path)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats() | st.text(max_size=8),
                           lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)
CONFIG_KEYS = ["num_hidden_layers", "n_layer", "hidden_size", "n_embd", "num_attention_heads", "n_head",
               "intermediate_size", "n_inner", "vocab_size", "num_key_value_heads", "architectures", "model_type",
               "is_decoder", "type_vocab_size"]
config_value = st.one_of(st.integers(-2, 4096), st.sampled_from([0, 1, 2, 3, 4, 8, 12, 64, 768]), json_values,
                         st.lists(st.sampled_from(["GPT2LMHeadModel", "BertModel", "LlamaForCausalLM"]), max_size=2))
documents = st.one_of(st.dictionaries(st.sampled_from(CONFIG_KEYS), config_value, max_size=len(CONFIG_KEYS)),
                      json_values)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, raw=st.one_of(st.none(), st.binary(max_size=40)), seq=st.integers(-1, 6),
       mode=st.sampled_from([None, "encoder", "decoder"]))
def test_config_files_work_or_are_one_line(saved_roofline, document, raw, seq, mode):
    """Through the command line, so the test follows the loader wherever it lives."""
    with tempfile.TemporaryDirectory() as folder:
        config, out = os.path.join(folder, "config.json"), os.path.join(folder, "t.json")
        with open(config, "wb") as f:
            f.write(raw if raw is not None else json.dumps(document).encode())
        args = ["transformer", "--model", config, "--seq", str(seq), "--roofline", saved_roofline, "--json", out]
        status, err = run_cli(args + (["--mode", mode] if mode else []))
        assert_works_or_one_line(status, err, out)
