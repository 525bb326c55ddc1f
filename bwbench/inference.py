"""Runs a transformer for real on this CPU: batch 1, float32, random weights
(distinct per layer, so they stream from memory as a real model's do),
bwbench's GEMM and GEMV kernels for every matrix product and numpy for the
element-wise rest. Each operation is timed around its call (the kernels'
Python call overhead, microseconds, is included) under the names the
analysis in bwbench.transformer uses."""
import time
from collections import defaultdict

import numpy as np

from bwbench import _kernels
from bwbench.errors import UsageError
from bwbench.machine import check_memory, check_threads
from bwbench.models import load_config

F32 = np.float32
SERIAL_FLOPS = 2**17  # smaller products run on one thread: an OpenMP fork costs more than they do


class Run:
    """Kernels on `threads` threads, and a clock that sums seconds per op name."""

    def __init__(self, threads: int):
        self.threads, self.isa = threads, _kernels.best_isa()
        self.seconds = defaultdict(float)

    def timed(self, name, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        self.seconds[name] += time.perf_counter() - start
        return result

    def _threads(self, flops: int) -> int:
        return 1 if flops < SERIAL_FLOPS else self.threads

    def gemm(self, a, b, bias=None):
        c = np.empty((a.shape[0], b.shape[1]), dtype=F32)
        threads = self._threads(2 * a.size * b.shape[1])
        _kernels.gemm_apply(self.isa, np.ascontiguousarray(a), b, c, threads)
        return c if bias is None else np.add(c, bias, out=c)

    def gemv(self, a, x, transpose=False, bias=None):
        """a @ x, or a.T @ x with transpose (a row-major as stored)."""
        y = np.empty(a.shape[1] if transpose else a.shape[0], dtype=F32)
        _kernels.gemv_apply(self.isa, transpose, a, np.ascontiguousarray(x), y, self._threads(2 * a.size))
        return y if bias is None else np.add(y, bias, out=y)


def _layernorm(x, gamma, beta):
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    return centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + 1e-5) * gamma + beta


def _softmax(scores, scale):
    scores = scores * F32(scale)
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    return scores / scores.sum(axis=-1, keepdims=True)


def _embeddings(table, tokens, *added):
    """The tokens' rows looked up, the position (and token-type) rows added."""
    x = table[tokens]
    for rows in added:
        x = x + rows
    return x


def _gelu(x):
    return F32(0.5) * x * (F32(1) + np.tanh(F32(0.7978845608) * (x + F32(0.044715) * x * x * x)))


def layer_weights(cfg, rng, out_by_in: bool = False):
    """One layer's weights, stored in x @ W form (in x out) for the encoder's
    GEMMs, or out x in (as torch.nn.Linear keeps them) for the decoder's
    GEMVs y = W x, which then read whole contiguous rows."""
    d, f, kv = cfg.d, cfg.d_ff, cfg.d_kv

    def matrix(rows, cols):
        w = (rng.standard_normal((rows, cols), dtype=F32) / np.sqrt(rows)).astype(F32)
        return np.ascontiguousarray(w.T) if out_by_in else w

    return {"q": matrix(d, d), "k": matrix(d, kv), "v": matrix(d, kv), "o": matrix(d, d), "up": matrix(d, f),
            "down": matrix(f, d), "bq": np.zeros(d, F32), "bk": np.zeros(kv, F32), "bv": np.zeros(kv, F32),
            "bo": np.zeros(d, F32), "bup": np.zeros(f, F32), "bdown": np.zeros(d, F32),
            "g1": np.ones(d, F32), "b1": np.zeros(d, F32), "g2": np.ones(d, F32), "b2": np.zeros(d, F32)}


def weights_bytes(cfg) -> int:
    per_layer = 2 * cfg.d * cfg.d + 2 * cfg.d * cfg.d_kv + 2 * cfg.d * cfg.d_ff
    return 4 * (cfg.layers * per_layer + (cfg.vocab + 4096) * cfg.d)


def _check(cfg, seq: int, prompt: int, batch: int, bytes_per_element: float) -> None:
    if batch != 1 or bytes_per_element != 4 or prompt or cfg.arch == "llama":
        raise UsageError("--measure runs BERT and GPT-2, batch 1, 4 bytes per element (float32), "
                         "decoding from an empty prompt")
    check_memory(2 * weights_bytes(cfg) + 16 * seq * (cfg.d_ff + seq), "the model's weights and activations")


def check_runnable(analysis) -> None:
    """Refuses, before anything is measured, a run that run_model would refuse."""
    _check(load_config(analysis.model), analysis.seq, analysis.prompt, analysis.batch, analysis.bytes_per_element)


def encoder_layer(run, w, x, cfg):
    """A BERT (post-LayerNorm) layer over all tokens at once."""
    t = run.timed
    q = t("Q projection", run.gemm, x, w["q"], w["bq"])
    k = t("K projection", run.gemm, x, w["k"], w["bk"])
    v = t("V projection", run.gemm, x, w["v"], w["bv"])
    heads = np.empty_like(q)
    group = cfg.heads // cfg.kv_heads
    for h in range(cfg.heads):
        cols = slice(h * cfg.d_head, (h + 1) * cfg.d_head)
        kv_cols = slice(h // group * cfg.d_head, (h // group + 1) * cfg.d_head)
        scores = t("Q·K^T", run.gemm, q[:, cols], np.ascontiguousarray(k[:, kv_cols].T))
        probs = t("softmax", _softmax, scores, cfg.d_head ** -0.5)
        heads[:, cols] = t("scores·V", run.gemm, probs, np.ascontiguousarray(v[:, kv_cols]))
    x = t("residual add", np.add, x, t("output projection", run.gemm, heads, w["o"], w["bo"]))
    x = t("LayerNorm", _layernorm, x, w["g1"], w["b1"])
    hidden = t("GELU", _gelu, t("FFN up", run.gemm, x, w["up"], w["bup"]))
    x = t("residual add", np.add, x, t("FFN down", run.gemm, hidden, w["down"], w["bdown"]))
    return t("LayerNorm", _layernorm, x, w["g2"], w["b2"])


def decoder_layer(run, w, x, cache_k, cache_v, position, cfg):
    """A GPT-2 (pre-LayerNorm) layer for one new token, with its key/value cache;
    w from layer_weights(out_by_in=True)."""
    t = run.timed
    a = t("LayerNorm", _layernorm, x, w["g1"], w["b1"])
    q = t("Q projection", run.gemv, w["q"], a, False, w["bq"])
    cache_k[:, position] = t("K projection", run.gemv, w["k"], a, False, w["bk"]).reshape(cfg.kv_heads, -1)
    cache_v[:, position] = t("V projection", run.gemv, w["v"], a, False, w["bv"]).reshape(cfg.kv_heads, -1)
    heads = np.empty_like(q)
    group = cfg.heads // cfg.kv_heads
    for h in range(cfg.heads):
        cols = slice(h * cfg.d_head, (h + 1) * cfg.d_head)
        keys, values = cache_k[h // group, :position + 1], cache_v[h // group, :position + 1]
        scores = t("Q·K^T", run.gemv, keys, q[cols])
        probs = t("softmax", _softmax, scores, cfg.d_head ** -0.5)
        heads[cols] = t("scores·V", run.gemv, values, probs, True)
    x = t("residual add", np.add, x, t("output projection", run.gemv, w["o"], heads, False, w["bo"]))
    a = t("LayerNorm", _layernorm, x, w["g2"], w["b2"])
    hidden = t("GELU", _gelu, t("FFN up", run.gemv, w["up"], a, False, w["bup"]))
    return t("residual add", np.add, x, t("FFN down", run.gemv, w["down"], hidden, False, w["bdown"]))


def run_model(cfg, mode: str, seq: int, scope: str = "layers", threads: int = None, prompt: int = 0,
              batch: int = 1, bytes_per_element: float = 4) -> tuple:
    """Runs the model once; returns ({op name: seconds}, total seconds)."""
    _check(cfg, seq, prompt, batch, bytes_per_element)
    threads = check_threads(threads)
    rng = np.random.default_rng(1)
    layers = [layer_weights(cfg, rng, out_by_in=mode == "decoder") for _ in range(cfg.layers)]
    embed = (rng.standard_normal((cfg.vocab, cfg.d), dtype=F32) * F32(0.02)) if scope == "model" else None
    positions = (rng.standard_normal((max(seq, 1024), cfg.d), dtype=F32) * F32(0.02)) if scope == "model" else None
    run = Run(threads)
    start = time.perf_counter()
    tokens = rng.integers(0, cfg.vocab, seq)
    if mode == "encoder":
        if scope == "model":
            # the token-type embedding stands in as one more row read and added
            x = run.timed("embeddings", _embeddings, embed, tokens, positions[:seq], positions[0])
            x = run.timed("embedding LayerNorm", _layernorm, x, F32(1), F32(0))
        else:
            x = rng.standard_normal((seq, cfg.d), dtype=F32)
        for w in layers:
            x = encoder_layer(run, w, x, cfg)
    else:
        cache = [(np.zeros((cfg.kv_heads, seq, cfg.d_head), F32), np.zeros((cfg.kv_heads, seq, cfg.d_head), F32))
                 for _ in layers]
        token = 0
        for position in range(seq):
            if scope == "model":
                x = run.timed("embeddings", _embeddings, embed, token, positions[position])
            else:
                x = rng.standard_normal(cfg.d, dtype=F32)
            for w, (keys, values) in zip(layers, cache):
                x = decoder_layer(run, w, x, keys, values, position, cfg)
            if scope == "model":
                x = run.timed("final LayerNorm", _layernorm, x, F32(1), F32(0))
                token = int(np.argmax(run.timed("LM head", run.gemv, embed, x)))
    return dict(run.seconds), time.perf_counter() - start
