"""Runs a transformer for real on this CPU through the C inference path
(src_c/infer.c): batch 1, float32, random weights (distinct per layer, so they
stream from memory as a real model's do). One C call per pass: an encoder
pass, or one decode step through every layer; this module holds the weights,
the key/value cache (in the C engine) and the token loop. Each op is timed in
C, under the names bwbench.transformer uses; the wall time is the median of
measure.PASSES whole token loops, or encoder passes.
Before timing, the first layer of the first pass is checked against the numpy
reference (bwbench.reference)."""

import numpy as np

from bwbench import _kernels, choices, formats, model_files, quant
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, cpu_ticks, stolen_fraction
from bwbench.measure import median_pass
from bwbench.models import load_config, model_file
from bwbench.reference import Reference
from bwbench.timing import checking

F32 = np.float32
RTOL, ATOL = 2e-4, 2e-4   # float32 sums in another order, and an exp to 2e-7


def op_names(cfg) -> list:
    """The analysis's op name of each op the C path times, by its index there."""
    norm = "RMSNorm" if cfg.rms_norm else "LayerNorm"
    return ["embeddings", "embedding LayerNorm", norm, "Q projection", "K projection", "V projection",
            "Q/K RMSNorm", "rotary", "Q·K^T", "softmax", "scores·V", "output projection", "residual add",
            "FFN gate", "FFN up", "SiLU" if cfg.activation == "silu" else "GELU", "gate multiply", "FFN down",
            f"final {norm}", "LM head"]


def _uniform(rng, shape, scale):
    """Uniform in [-scale, scale), float32, made in place (fast for GBs of weights)."""
    values = rng.random(shape, dtype=F32)
    values -= F32(0.5)
    values *= F32(2 * scale)
    return values


def _matrices(rng, layer_shapes) -> list:
    """Random out x in matrices, uniform in +-1/sqrt(in), as views of one
    allocation: numpy asks for huge pages for large allocations only, and
    small matrices on small pages would cost a TLB miss per 4 KiB streamed."""
    counts = [-(-rows * cols // 16) * 16 for shapes in layer_shapes for rows, cols in shapes.values()]  # 64 B apart
    arena, offset, layers = _uniform(rng, sum(counts), 1.0), 0, []
    for shapes in layer_shapes:
        layer = {}
        for name, (rows, cols) in shapes.items():
            layer[name] = arena[offset:offset + rows * cols].reshape(rows, cols)
            layer[name] *= F32(cols ** -0.5)
            offset += -(-rows * cols // 16) * 16
        layers.append(layer)
    return layers


def random_weights(cfg, rng, embeddings: bool, head: bool, max_pos: int, weights: str = "f32"):
    """(layers, top): one dict per layer, out x in matrices as torch keeps them
    (in a quantised format: its uint8 rows), biases where the architecture has
    them, norms' gammas near 1; top holds the embeddings (if asked) and the
    final norm and LM head (if asked; the token embedding itself when tied)."""
    d, f = cfg.d, cfg.d_ff
    shapes = {"q": (cfg.d_q, d), "k": (cfg.d_kv, d), "v": (cfg.d_kv, d), "o": (d, cfg.d_q), "up": (f, d),
              "down": (d, f), **({"gate": (f, d)} if cfg.gated else {})}

    def norm(width):
        return {"w": 1 + _uniform(rng, width, 0.1), "b": None if cfg.rms_norm else _uniform(rng, width, 0.1)}

    matrices = _matrices(rng, [shapes] * cfg.layers)
    layers = []
    for w in matrices:
        w.update({"b" + name: _uniform(rng, shapes[name][0], 0.1) for name in cfg.biases})
        for i in (1, 2):
            n = norm(d)
            w[f"norm{i}_w"], w[f"norm{i}_b"] = n["w"], n["b"]
        if cfg.qk_norm:
            w["q_norm_w"], w["k_norm_w"] = norm(cfg.head_dim)["w"], norm(cfg.head_dim)["w"]
        layers.append(w)
    top = {}
    if embeddings or head:
        top["tok_emb"] = _uniform(rng, (cfg.vocab, d), 1.0)
    if embeddings and cfg.arch != "llama":
        top["pos_emb"] = _uniform(rng, (max_pos, d), 0.1)
    if embeddings and cfg.token_types:
        top["type_emb"] = _uniform(rng, d, 0.1)
        n = norm(d)
        top["emb_norm_w"], top["emb_norm_b"] = n["w"], n["b"]
    if head:
        n = norm(d)
        top["final_norm_w"], top["final_norm_b"] = n["w"], n["b"]
        top["lm_head"] = top["tok_emb"] if cfg.tied_embeddings else _uniform(rng, (cfg.vocab, d), d ** -0.5)
    if weights != "f32":   # the linear layers' matrices in the format; embeddings stay float32
        for layer in layers:
            layer.update({name: quant.quantize(layer[name], weights) for name in shapes})
        if head:
            top["lm_head"] = quant.quantize(top["lm_head"], weights)
    return layers, top


def engine(cfg, layers, top, max_pos: int, max_tokens: int, isa: str = None, weights: str = "f32",
           max_seqs: int = 1) -> _kernels.Engine:
    """The C engine of cfg: a key/value cache of max_seqs sequences of max_pos
    positions, scratch for max_tokens rows a pass."""
    config = {"arch": cfg.arch, "act": cfg.activation, "d": cfg.d, "heads": cfg.heads, "kv_heads": cfg.kv_heads,
              "head_dim": cfg.head_dim, "d_ff": cfg.d_ff, "vocab": cfg.vocab, "eps": cfg.norm_eps,
              "rope_theta": cfg.rope_theta, "max_pos": max_pos, "max_tokens": max_tokens, "weights": weights,
              "max_seqs": max_seqs}
    return _kernels.Engine(config, layers, top, isa or choices.isa(weights))


def model_bytes(cfg, max_pos: int, embeddings: bool, head: bool, weights: str = "f32", max_tokens: int = 1,
                max_seqs: int = 1) -> int:
    """Weights (made in float32 first, then quantised; or packed again for the
    GEMM when a pass takes more than SMALL_N tokens, the LM head when it
    takes more than SMALL_N sequences; a model file's as they lie, their
    regrouped copy and its embedding in float32), key/value cache and
    scratch of a run, in bytes."""
    layer = cfg.d * (2 * cfg.d_q + 2 * cfg.d_kv) + (3 if cfg.gated else 2) * cfg.d * cfg.d_ff
    tables = cfg.vocab * cfg.d * ((embeddings or head) + (head and not cfg.tied_embeddings)) + max_pos * cfg.d
    cache = 2 * cfg.layers * max_pos * cfg.d_kv
    scratch = max_pos * (4 * cfg.d + 2 * cfg.d_q + 2 * cfg.d_ff + cfg.heads * max_pos)
    if cfg.path:
        return 2 * model_file(cfg).nbytes + 4 * (cfg.vocab * cfg.d + cache + scratch)
    packed = 0 if weights == "f32" else (cfg.layers * layer + head * cfg.vocab * cfg.d) * formats.FORMATS[weights].bytes_per_weight
    packed *= 2   # quantised, then regrouped into the engine's layout
    gemm_packed = (cfg.layers * layer * (max_tokens > _kernels.SMALL_N)
                   + head * cfg.vocab * cfg.d * (max_seqs > _kernels.SMALL_N)) if weights == "f32" else 0
    return 4 * (cfg.layers * layer + gemm_packed + tables + cache + scratch) + int(packed)


def check_run(cfg, mode: str, seq: int, scope: str, prompt: int, batch: int, bytes_per_element: float,
              weights: str = "f32") -> None:
    if batch != 1 or bytes_per_element != 4 or prompt:
        raise UsageError("--measure runs batch 1, 4 bytes per element (float32), decoding from an empty prompt")
    kinds = {weights} - {"f32"}
    if cfg.path:   # a model file: its tensors' own types, each refused by name if the engine lacks it
        if weights != "f32":
            raise UsageError(f"--weights {weights} is for models with random weights: {cfg.path}'s tensors "
                             "keep their own types")
        types = model_file(cfg).types()
        model_files.check_runnable(cfg, types)
        kinds = {formats.BY_GGML_TYPE[kind].name for kind in types.values()} - {"f32"}
    for kind in kinds:
        if mode != "decoder":
            which = f"{cfg.path}'s {kind} tensors run" if cfg.path else f"--weights {kind} runs"
            raise UsageError(f"{which} decoders, not {mode}s")
        for width in {cfg.d, cfg.d_q, cfg.d_ff}:
            quant.check_gemv_cols(kind, width)
    check_memory(model_bytes(cfg, seq, scope == "model", scope == "model" and mode == "decoder", weights,
                             1 if mode == "decoder" else seq),
                 "the model's weights, key/value cache and activations")


def check_runnable(analysis) -> None:
    """Refuses, before anything is measured, a run that run_model would refuse."""
    check_run(load_config(analysis.model), analysis.mode, analysis.seq, analysis.scope, analysis.prompt,
              analysis.batch, analysis.bytes_per_element, analysis.weights or "f32")


def _check_first_layer(cfg, layers, top, decoder: bool, tokens, x, threads: int, weights: str) -> None:
    """The first layer of the first pass, in C and in numpy: refuse to time a wrong engine."""
    one = engine(cfg, layers[:1], {key: top.get(key) for key in ("tok_emb", "pos_emb", "type_emb",
                                                                 "emb_norm_w", "emb_norm_b")},
                 len(x), len(x), weights=weights)
    reference = Reference(cfg, layers[:1], top, len(x), weights)
    with checking():
        want = reference.forward(reference.embed(tokens, 0) if tokens is not None else x, 0, decoder)
    got = x.copy()
    one.run(threads, decoder, tokens, got, 0, False, None, np.zeros(_kernels.INFER_OPS))
    if not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        worst = float(np.max(np.abs(got - want)))
        raise ValidationError(f"the C inference path's first layer differs from the numpy reference by {worst:.3g}")


def run_model(cfg, mode: str, seq: int, scope: str = "layers", threads: int = None, prompt: int = 0,
              batch: int = 1, bytes_per_element: float = 4, weights: str = "f32") -> tuple:
    """Runs the model; returns ({op name: seconds}, total seconds, the share
    of CPU time the hypervisor stole while the timed part ran, the token ids
    a decoder generated at scope model (else None)).
    Decoder: `seq` steps from an empty prompt, each feeding back the argmax
    of the last (scope model) or a random input (scope layers); encoder: a
    pass over `seq` tokens. Either way the median of measure.PASSES runs (a
    decode of a second was one sample, a short stall of the shared host a
    tenth of it). weights: the
    linear layers' format (f32 or a bwbench.quant format)."""
    check_run(cfg, mode, seq, scope, prompt, batch, bytes_per_element, weights)
    threads = check_threads(threads)
    decoder, model_scope = mode == "decoder", scope == "model"
    rng = np.random.default_rng(1)
    if cfg.path:   # the file's weights, memory-mapped
        layers, top = model_file(cfg).weights(model_scope, model_scope and decoder)
    else:
        layers, top = random_weights(cfg, rng, model_scope, model_scope and decoder, seq, weights)
    tokens = rng.integers(0, cfg.vocab, seq).astype(np.int32) if model_scope else None
    first = rng.standard_normal((1 if decoder else seq, cfg.d), dtype=F32)
    _check_first_layer(cfg, layers, top, decoder, tokens[:len(first)] if model_scope else None, first, threads,
                       weights)
    run = engine(cfg, layers, top, seq, 1 if decoder else seq, weights=weights)
    steps = rng.standard_normal((seq, 1, cfg.d), dtype=F32) if decoder else None   # inputs made before timing
    # a warm-up pass, untimed (as the reference engines get): first touch of the scratch, code in cache
    run.run(threads, decoder, tokens[:len(first)] if model_scope else None, first.copy(), 0, decoder and model_scope,
            None, np.zeros(_kernels.INFER_OPS))

    def decode(buffers):   # from position 0 each time: the key/value cache is written over
        fed, inputs, seconds = buffers   # inputs: a fresh copy of the steps, as run() writes its output there
        for position in range(seq):   # each step's token goes where the next step reads it: no copy timed
            token = fed[position:position + 1]
            fed[position + 1], _ = run.run(threads, True, token if model_scope else None, inputs[position], position,
                                           model_scope, None, seconds)
        return seconds, fed[1:].tolist()

    def encoder_pass(buffers):
        hidden, seconds = buffers
        run.run(threads, False, tokens, hidden, 0, False, None, seconds)
        return seconds

    ticks = cpu_ticks()
    generated = None
    if decoder:   # token 0 first, as the reference engines start
        wall, (seconds, generated) = median_pass(decode, lambda: (np.zeros(seq + 1, np.int32), steps.copy(),
                                                                  np.zeros(_kernels.INFER_OPS)))
    else:
        wall, seconds = median_pass(encoder_pass, lambda: (first.copy(), np.zeros(_kernels.INFER_OPS)))
    return ({name: s for name, s in zip(op_names(cfg), seconds) if s}, wall, stolen_fraction(ticks, cpu_ticks()),
            generated if model_scope else None)
