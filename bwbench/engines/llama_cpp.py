"""llama.cpp (through llama-cpp-python) as the reference engine for
Llama-family decoders: the same shape written as a GGUF file with random
weights (gguf's writer; the matrices quantised by bwbench.quant, whose block
layouts are llama.cpp's; tokenizer model "none", token ids fed directly), then
llama.cpp's decode on the same threads, one token a step from token 0,
feeding back the argmax, after a two-token warm-up; timed as bwbench's, the
median of measure.PASSES decodes. Embeddings stay float32,
as in bwbench's runs; the LM head is in the weight format.

In a sweep (Batched), llama.cpp decodes B sequences together as
llama-batched-bench does: one context of n_seq_max sequences (kv_unified
false: each sequence its own cache stream), a prompt step of B x P tokens
in one llama_batch, then every generated step one llama_batch holding a
token for each sequence at its own position, the argmax of each sequence's
logits fed back. Its cache is filled to the depth D untimed: D random
tokens decoded for sequence 0, then copied to the others (llama.cpp's
llama_memory_seq_cp), since the contents do not change the time."""
import contextlib
import io
import logging
import os
import tempfile
import time

import numpy as np

from bwbench import formats, quant
from bwbench.engines.optional import load
from bwbench.errors import KernelError, UsageError
from bwbench.measure import median_pass

INSTALL = "install llama-cpp-python and gguf: pip install -e '.[llama]' (builds llama.cpp, about 4 minutes)"
GGML_TYPES = {f.name: f.ggml_type for f in formats.FORMATS.values()}
KV_UNIFIED = False   # a cache stream a sequence, as llama-batched-bench without -kvu
KV_BYTES = 2         # llama.cpp's default cache type, f16
CTX_PAD = 256        # llama.cpp rounds each sequence's context up to a multiple of this
# llama.cpp's extra weight layouts (AMX, CPU_REPACK) off: in llama-cpp-python 0.3.36 on an AMX host (Sapphire
# Rapids) a batch of more than one token with q4_0 or q8_0 weights crashes in them (llama.cpp issue #20824),
# whether bwbench or llama.cpp's own llama_model_quantize wrote the file; weights stay in the file's layout
EXTRA_BUFFERS = False


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
    own; the JSON record of transformer.reference, with the token ids it generated."""
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
        seconds, tokens = median_pass(lambda _: _decode(model, seq), model.reset)
        model.close()   # before its file goes
    record = {"engine": "llama.cpp", "version": f"llama-cpp-python {llama_cpp.__version__}", "threads": threads,
              "measured_s": seconds, "tokens_per_s": seq / seconds, "tokens": tokens}
    return {**record, "model_file": cfg.path} if cfg.path else {**record, "weights": weights}


@contextlib.contextmanager
def _stderr_closed():
    """File descriptor 2 to /dev/null for the block: llama.cpp writes there from C
    (and to sys.stderr through llama-cpp-python's log callback)."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _decode(model, steps: int) -> list:
    """`steps` greedy steps from token 0, as bwbench's decode: the tokens generated."""
    token, generated = 0, []
    for _ in range(steps):
        model.eval([token])
        token = int(np.argmax(model.scores[model.n_tokens - 1]))
        generated.append(token)
    return generated


def batched_bytes(cfg, weights: str, sequences: int, positions: int) -> int:
    """Memory a Batched holds: the weights in the format, the float32 embeddings
    and every sequence's f16 cache (its context rounded up as llama.cpp does)."""
    layer = cfg.d * (2 * cfg.d_q + 2 * cfg.d_kv) + 3 * cfg.d * cfg.d_ff
    matrices = (cfg.layers * layer + cfg.vocab * cfg.d) * quant.BYTES_PER_WEIGHT[weights]
    context = -(-positions // CTX_PAD) * CTX_PAD
    return int(matrices) + 4 * cfg.vocab * cfg.d + 2 * cfg.layers * cfg.d_kv * KV_BYTES * sequences * context


class Batched:
    """llama.cpp's side of a sweep in one weight format: the GGUF file written
    once, one context of `sequences` sequences of `positions` positions each,
    on `threads` threads. fill() then once() per repetition, as sweep.Runner;
    a context manager (close() frees the context, the model and the file)."""

    def __init__(self, cfg, weights: str, threads: int, sequences: int, positions: int):
        _, self.lib = _modules()
        # llama.cpp's log off while decoding (llama-cpp-python 0.3.36 maps its levels one off: a warning
        # passes as an error, an error as debug); a failed llama_decode raises here instead
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        self.vocab, self.rng, self.last_tokens = cfg.vocab, np.random.default_rng(3), None
        self.model = self.ctx = self.batch = None
        self.folder = tempfile.TemporaryDirectory(prefix="bwbench-gguf-")
        path = os.path.join(self.folder.name, "model.gguf")
        write_gguf(cfg, path, weights, positions)
        params = self.lib.llama_context_default_params()   # n_batch 2048, n_ubatch 512, flash attention auto
        params.n_ctx, params.n_seq_max, params.kv_unified = sequences * positions, sequences, KV_UNIFIED
        params.n_threads = params.n_threads_batch = threads
        model_params = self.lib.llama_model_default_params()
        model_params.use_extra_bufts = EXTRA_BUFFERS
        with _stderr_closed():
            self.lib.llama_backend_init()
            self.model = self.lib.llama_model_load_from_file(path.encode(), model_params)
            self.ctx = self.lib.llama_init_from_model(self.model, params) if self.model else None
        if not self.ctx:
            self.close()
            raise KernelError(f"llama.cpp could not load {cfg.name} with {weights} weights")
        self.n_batch = self.lib.llama_n_batch(self.ctx)
        self.batch = self.lib.llama_batch_init(self.n_batch, 0, 1)
        self.info = {"engine": "llama.cpp", "version": f"llama-cpp-python {self.lib.__version__}",
                     "threads": threads, "weights": weights, "settings": self._settings(params)}

    def _settings(self, params) -> dict:
        """How the context runs, for the record."""
        return {"n_ctx": self.lib.llama_n_ctx(self.ctx), "n_ctx_seq": self.lib.llama_n_ctx_seq(self.ctx),
                "n_seq_max": params.n_seq_max, "kv_unified": KV_UNIFIED, "n_batch": self.n_batch,
                "n_ubatch": self.lib.llama_n_ubatch(self.ctx),
                "flash_attn": {-1: "auto", 0: "off", 1: "on"}[params.flash_attn_type], "cache_type": "f16",
                "extra_buffers": EXTRA_BUFFERS,
                "depth_fill": "untimed: random tokens decoded for sequence 0, copied to the others"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.batch is not None:
            self.lib.llama_batch_free(self.batch)
        if self.ctx:
            self.lib.llama_free(self.ctx)
        if self.model:
            self.lib.llama_model_free(self.model)
        self.batch = self.ctx = self.model = None
        self.folder.cleanup()

    def memory(self):
        """llama.cpp's memory (the caches) of the context."""
        return self.lib.llama_get_memory(self.ctx)

    def decode(self, tokens, positions, seqs, outputs) -> np.ndarray:
        """llama_decode of the tokens (in llama_batches of at most n_batch), each
        at its position in its sequence; the argmax of the logits of each token
        whose `outputs` flag is set, in order."""
        picked = []
        for start in range(0, len(tokens), self.n_batch):
            part = slice(start, start + self.n_batch)
            n = len(tokens[part])
            self.batch.n_tokens = n
            for field, values in (("token", tokens), ("pos", positions), ("logits", outputs), ("n_seq_id", None)):
                np.ctypeslib.as_array(getattr(self.batch, field), (n,))[:] = 1 if values is None else values[part]
            for i, q in enumerate(seqs[part]):   # one sequence a token
                self.batch.seq_id[i][0] = int(q)
            status = self.lib.llama_decode(self.ctx, self.batch)
            if status:
                raise KernelError(f"llama.cpp's llama_decode returned {status} for {n} tokens")
            rows = int(np.count_nonzero(outputs[part]))
            if rows:
                logits = np.ctypeslib.as_array(self.lib.llama_get_logits(self.ctx), (rows, self.vocab))
                picked.append(logits.argmax(1).astype(np.int32))
        self.lib.llama_synchronize(self.ctx)
        return np.concatenate(picked) if picked else np.empty(0, np.int32)

    def fill(self, batch: int, depth: int) -> None:
        """Empties the cache, then fills the first `batch` sequences to `depth`
        positions (untimed): random tokens decoded for sequence 0, copied to the others."""
        self.lib.llama_memory_clear(self.memory(), True)
        if depth:
            self.decode(self._tokens(depth), np.arange(depth), np.zeros(depth, np.int32), np.zeros(depth, np.int8))
        for q in range(1, batch if depth else 0):
            self.lib.llama_memory_seq_cp(self.memory(), 0, q, -1, -1)

    def _tokens(self, count: int) -> np.ndarray:
        return self.rng.integers(0, self.vocab, count).astype(np.int32)

    def _prompts(self, batch: int, prompt: int, depth: int) -> tuple:
        """decode()'s arguments for B random prompts of P tokens after the depth, one llama_batch:
        the logits of each sequence's last token kept."""
        last = (np.arange(batch * prompt) % prompt == prompt - 1).astype(np.int8)
        return (self._tokens(batch * prompt), np.tile(np.arange(depth, depth + prompt), batch),
                np.repeat(np.arange(batch), prompt), last)

    def once(self, batch: int, prompt: int, depth: int, generated: int) -> tuple:
        """(T_PP, T_TG) of one repetition from the depth: the B prompts of P
        tokens in one step, then `generated` steps of one token a sequence,
        argmax fed back; the cache is then cut back to the depth."""
        first, prompts = self._tokens(batch), self._prompts(batch, prompt, depth) if prompt else None
        start = time.perf_counter()
        if prompts:
            first = self.decode(*prompts)
        t_pp = time.perf_counter() - start if prompts else 0.0
        steps, every, ones = [first], np.arange(batch), np.ones(batch, np.int8)
        start = time.perf_counter()
        for i in range(generated):
            steps.append(self.decode(steps[-1], np.full(batch, depth + prompt + i), every, ones))
        t_tg = time.perf_counter() - start
        self.last_tokens = np.array(steps[1:])
        self.lib.llama_memory_seq_rm(self.memory(), -1, depth, -1)
        return t_pp, t_tg
