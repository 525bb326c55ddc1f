"""llama.cpp (through llama-cpp-python) as the reference engine for
Llama-family decoders: the same shape written as a GGUF file with random
weights (gguf's writer; the matrices quantised by bwbench.quant, whose block
layouts are llama.cpp's; tokenizer model "none", token ids fed directly), then
llama.cpp's decode on the same threads, one token a step from token 0,
feeding back the argmax, after a two-token warm-up; timed as bwbench's, the
median of measure.PASSES decodes. Embeddings stay float32,
as in bwbench's runs; the LM head is in the weight format."""
import contextlib
import os
import tempfile

import numpy as np

from bwbench import formats, quant
from bwbench.engines.optional import load
from bwbench.errors import UsageError
from bwbench.measure import median_pass

INSTALL = "install llama-cpp-python and gguf: pip install -e '.[llama]' (builds llama.cpp, about 4 minutes)"
GGML_TYPES = {f.name: f.ggml_type for f in formats.FORMATS.values()}


def _modules():
    return load(("gguf", "llama_cpp"), f"--reference llama.cpp needs llama.cpp's Python bindings: {INSTALL}")


def check_available() -> None:
    """Refuses, before anything is measured, a run without the engine."""
    _modules()


def check(cfg, mode: str, weights: str) -> None:
    """Refuses, before anything is measured, a shape this adapter does not build
    (a GGUF model file runs as it is, in llama.cpp too)."""
    if cfg.path:
        if not cfg.path.endswith(".gguf"):
            raise UsageError("--reference llama.cpp runs GGUF files: convert the folder with llama.cpp's "
                             f"convert_hf_to_gguf.py, or give a .gguf file ({cfg.path} is a folder)")
        if mode != "decoder":
            raise UsageError("--reference llama.cpp runs decoders")
        return
    if cfg.arch != "llama" or mode != "decoder" or cfg.biases or cfg.qk_norm or cfg.activation != "silu":
        raise UsageError("--reference llama.cpp runs Llama-style decoders (no biases, SiLU gate): "
                         f"{cfg.name} is not one")


def _matrix(rng, rows: int, cols: int, weights: str):
    """(data, ggml type) of a random rows x cols matrix in the format."""
    values = (rng.random((rows, cols), dtype=np.float32) - np.float32(0.5)) * np.float32(2 * cols ** -0.5)
    if weights == "f32":
        return values, None
    return quant.quantize(values, weights), weights


def write_metadata(writer, cfg, positions: int) -> None:
    """cfg's hyperparameters as llama.cpp reads them, under the writer's architecture."""
    writer.add_context_length(positions)
    writer.add_embedding_length(cfg.d)
    writer.add_block_count(cfg.layers)
    writer.add_feed_forward_length(cfg.d_ff)
    writer.add_head_count(cfg.heads)
    writer.add_head_count_kv(cfg.kv_heads)
    writer.add_key_length(cfg.head_dim)
    writer.add_value_length(cfg.head_dim)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_layer_norm_rms_eps(cfg.norm_eps)
    writer.add_vocab_size(cfg.vocab)
    writer.add_tokenizer_model("none")


def write_gguf(cfg, path: str, weights: str, positions: int) -> None:
    """A GGUF file of cfg's shape with random weights, llama.cpp's llama architecture."""
    gguf, = load(("gguf",), f"writing a GGUF file needs gguf: {INSTALL}")
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(path, "llama")
    write_metadata(writer, cfg, positions)

    def add(name, data, fmt=None):
        """float32, or uint8 rows in fmt (gguf reads their byte shape as the format's)."""
        writer.add_tensor(name, data, raw_dtype=getattr(gguf.GGMLQuantizationType, GGML_TYPES[fmt]) if fmt else None)

    def matrix(name, rows, cols):
        add(name, *_matrix(rng, rows, cols, weights))

    ones = np.ones(cfg.d, np.float32)
    add("token_embd.weight", (rng.random((cfg.vocab, cfg.d), dtype=np.float32) - 0.5).astype(np.float32))
    add("output_norm.weight", ones)
    matrix("output.weight", cfg.vocab, cfg.d)
    for i in range(cfg.layers):
        add(f"blk.{i}.attn_norm.weight", ones)
        add(f"blk.{i}.ffn_norm.weight", ones)
        for name, rows, cols in (("attn_q", cfg.d_q, cfg.d), ("attn_k", cfg.d_kv, cfg.d), ("attn_v", cfg.d_kv, cfg.d),
                                 ("attn_output", cfg.d, cfg.d_q), ("ffn_gate", cfg.d_ff, cfg.d),
                                 ("ffn_up", cfg.d_ff, cfg.d), ("ffn_down", cfg.d, cfg.d_ff)):
            matrix(f"blk.{i}.{name}.weight", rows, cols)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def run(cfg, mode: str, seq: int, threads: int, weights: str = "f32") -> dict:
    """Times `seq` decode steps of llama.cpp on cfg's shape (on the file
    itself, for a GGUF model file), the median of PASSES runs as bwbench's
    own; the JSON record of transformer.reference."""
    check(cfg, mode, weights)
    _, llama_cpp = _modules()
    with tempfile.TemporaryDirectory(prefix="bwbench-gguf-") as folder:
        path = cfg.path or os.path.join(folder, "model.gguf")
        if not cfg.path:
            write_gguf(cfg, path, weights, seq + 8)
        # logits_all keeps a row of scores a position (one token a step: no extra work)
        with _stderr_closed():   # llama.cpp warns that random weights have no training context
            model = llama_cpp.Llama(model_path=path, n_ctx=seq + 8, n_batch=8, n_threads=threads,
                                    n_threads_batch=threads, logits_all=True, verbose=False)
        _decode(model, 2)   # warm-up
        seconds, _ = median_pass(lambda _: _decode(model, seq), model.reset)
        del model
    record = {"engine": "llama.cpp", "version": f"llama-cpp-python {llama_cpp.__version__}", "threads": threads,
              "measured_s": seconds, "tokens_per_s": seq / seconds}
    return {**record, "model_file": cfg.path} if cfg.path else {**record, "weights": weights}


@contextlib.contextmanager
def _stderr_closed():
    """File descriptor 2 to /dev/null for the block: llama.cpp writes there from C."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _decode(model, steps: int) -> None:
    token = 0
    for _ in range(steps):
        model.eval([token])
        token = int(np.argmax(model.scores[model.n_tokens - 1]))
