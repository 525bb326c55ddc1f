"""Transformer models as operations with FLOPs and bytes, and their time predicted
on a measured Roofline.

Counting follows Kim et al., "Full Stack Optimization of Transformer Inference"
(../shared/seed/NOTES.md):

- every operation reads all its inputs and weights once and writes its output
  once, with no reuse between operations; `bytes_per_element` bytes each;
- a dot product of length K is K multiplies and K - 1 adds; a linear layer
  counts 2K FLOPs per output (2MKN for the whole product, as if it adds a
  bias, whether or not the model has one; biases, d values against d^2
  weights, are left out of the bytes, as Kim et al. do); attention matmuls
  have no bias: 2K - 1;
- softmax: 6 FLOPs per score (scale, max, subtract, exp, sum, divide); GELU 9
  (tanh form); SiLU 4 (negate, exp, add 1, divide); the gate multiply 1 and
  reads two inputs; LayerNorm 7 per element (mean, subtract, square, sum,
  scale by 1/std, gamma, beta) and reads gamma and beta; RMSNorm 4 (square,
  sum, scale by 1/rms, gamma) and reads gamma; rotary 3 per element of Q and
  K (6 per rotated pair) and reads the position's head_dim/2 cosines and
  sines; residual add 1;
- grouped key/value heads: K and V project to kv_heads x head_dim, and each
  group of heads reads the same keys and values;
- encoder: all tokens at once. decoder: an optional prompt of P tokens at once,
  then `seq` steps of one token each; step t attends to the P + t cached
  positions (itself included) and re-reads every weight;
- scope `layers`: the transformer layers only (Kim et al.); `model` adds the
  embeddings and, for decoders, the final norm and the LM head, which reads
  its d x vocab weights every step whether or not it is tied to the embedding.

With 1 byte per element, scope `layers`, BERT-Base at 128 tokens gives Kim et
al.'s Table 3: projections 7.25 GFLOPs at 192.00 FLOP/byte, attention 0.60 at
63.62, FFN 14.50 at 211.86.
"""
from dataclasses import dataclass, replace

from bwbench.errors import UsageError
from bwbench.models import load_config
from bwbench import formats

FIGURE_MODELS = ("bert-base", "bert-large", "gpt2")
SOFTMAX_FLOPS, GELU_FLOPS, SILU_FLOPS, LAYERNORM_FLOPS, RMSNORM_FLOPS, ROTARY_FLOPS = 6, 9, 4, 7, 4, 3


@dataclass(frozen=True)
class Op:
    """One operation, summed over every time it runs. Of its bytes,
    weight_bytes are weights and cache_bytes the key/value cache a decoder
    reads: read-only streams, re-read every pass; the rest are activations,
    read and written. Predicted: the time, and `charged`, that time by the
    ceiling that bound each run of it: ((ceiling name, GB/s or GFLOP/s),
    seconds) pairs, ceilings named as ceilings.bracket_drift names them."""

    name: str
    group: str
    flops: float
    bytes: float
    weight_bytes: float = 0.0
    cache_bytes: float = 0.0
    predicted_s: float = 0.0
    measured_s: float = None
    charged: tuple = ()

    @property
    def ai(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def ceiling(self) -> tuple:
        """(name, rate) of the ceiling that bound the largest part of the predicted time."""
        return max(self.charged, key=lambda pair: pair[1])[0]

    @property
    def bound(self) -> str:
        return "memory" if self.ceiling[0].endswith(("read-only", "read-write")) else "compute"

    def plus(self, other: "Op") -> "Op":
        measured = None if None in (self.measured_s, other.measured_s) else self.measured_s + other.measured_s
        charged = dict(self.charged)
        for ceiling, seconds in other.charged:
            charged[ceiling] = charged.get(ceiling, 0.0) + seconds
        return replace(self, flops=self.flops + other.flops, bytes=self.bytes + other.bytes,
                       weight_bytes=self.weight_bytes + other.weight_bytes,
                       cache_bytes=self.cache_bytes + other.cache_bytes,
                       predicted_s=self.predicted_s + other.predicted_s, measured_s=measured,
                       charged=tuple(charged.items()))

    def to_dict(self) -> dict:
        record = {"name": self.name, "group": self.group, "flops": self.flops, "bytes": self.bytes,
                  "weight_bytes": self.weight_bytes, "cache_bytes": self.cache_bytes, "ai": self.ai,
                  "predicted_s": self.predicted_s}
        if self.charged:
            name, rate = self.ceiling
            memory = self.bound == "memory"
            record.update(bound=self.bound, ceiling=name, level=name.split()[0] if memory else "registers",
                          pattern=("read" if "read-only" in name else "readwrite") if memory else "",
                          gbps=rate if memory else None, gflops=None if memory else rate,
                          charged_s={ceiling: seconds for (ceiling, _), seconds in self.charged})
        if self.measured_s is not None:
            record["measured_s"] = self.measured_s
        return record


def _linear(name, group, rows, k, n, e) -> Op:
    """rows x k activations times a k x n weight: 2k FLOPs per output (a bias,
    where there is one, is added in the last step, as Kim et al. count it)."""
    return Op(name, group, 2 * rows * k * n, e * (rows * k + k * n + rows * n), e * k * n)


def _elementwise(name, elements, flops_each, reads, e, weights=0) -> Op:
    """`reads` inputs of `elements` values, one output; `weights` extra values read."""
    return Op(name, "other", flops_each * elements, e * ((reads + 1) * elements + weights), e * weights)


def _norm(cfg, name, rows, e, width=None, weights=None) -> Op:
    """LayerNorm (reads gamma and beta) or RMSNorm (reads gamma) over rows of `width`."""
    width = width or cfg.d
    if cfg.rms_norm:
        return _elementwise(f"{name}RMSNorm", rows * width, RMSNORM_FLOPS, 1, e, weights=weights or width)
    return _elementwise(f"{name}LayerNorm", rows * width, LAYERNORM_FLOPS, 1, e, weights=weights or 2 * width)


def attention_ops(cfg, batch: int, tokens: int, context: int, e: float, cached: bool) -> list:
    """Q, K, V projections, (Qwen3's Q/K norms, rotary), the two attention
    matmuls over all heads with softmax between, the output projection.
    cached: keys and values are read from a decoder's key/value cache."""
    rows, dh = batch * tokens, cfg.d_head
    scores = batch * cfg.heads * tokens * context
    kv = e * batch * context * cfg.d_kv   # keys (or values) attended to
    ops = [_linear("Q projection", "projection", rows, cfg.d, cfg.d_q, e),
           _linear("K projection", "projection", rows, cfg.d, cfg.d_kv, e),
           _linear("V projection", "projection", rows, cfg.d, cfg.d_kv, e)]
    if cfg.qk_norm:   # per head: gamma of head_dim values, shared by the heads
        ops.append(_norm(cfg, "Q/K ", rows, e, cfg.d_q + cfg.d_kv, weights=2 * dh))
    if cfg.rotary:    # each pair (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos); reads dh/2 cos and sin
        elements = rows * (cfg.d_q + cfg.d_kv)
        ops.append(Op("rotary", "other", ROTARY_FLOPS * elements, e * (2 * elements + rows * dh)))
    ops += [Op("Q·K^T", "attention", scores * (2 * dh - 1), e * (rows * cfg.d_q + scores) + kv,
               cache_bytes=kv if cached else 0),
            _elementwise("softmax", scores, SOFTMAX_FLOPS, 1, e),
            Op("scores·V", "attention", batch * cfg.heads * tokens * dh * (2 * context - 1),
               e * (scores + rows * cfg.d_q) + kv, cache_bytes=kv if cached else 0),
            _linear("output projection", "projection", rows, cfg.d_q, cfg.d, e)]
    return ops


def ffn_ops(cfg, rows: int, e: float) -> list:
    """up, activation, down; gated (Llama family): gate and up, the activation
    of the gate, the gate multiply, down."""
    act = _elementwise("SiLU" if cfg.activation == "silu" else "GELU", rows * cfg.d_ff,
                       SILU_FLOPS if cfg.activation == "silu" else GELU_FLOPS, 1, e)
    up = _linear("FFN up", "ffn", rows, cfg.d, cfg.d_ff, e)
    down = _linear("FFN down", "ffn", rows, cfg.d_ff, cfg.d, e)
    if not cfg.gated:
        return [up, act, down]
    return [_linear("FFN gate", "ffn", rows, cfg.d, cfg.d_ff, e), up, act,
            _elementwise("gate multiply", rows * cfg.d_ff, 1, 2, e), down]


def layer_ops(cfg, batch: int, tokens: int, context: int, e: float, cached: bool = False) -> list:
    """One layer processing `tokens` new tokens per sequence that attend to
    `context` positions (tokens == context for an encoder), in the order the
    architecture runs them: post-norm (BERT) or pre-norm (GPT-2, Llama)."""
    rows = batch * tokens
    attention, ffn = attention_ops(cfg, batch, tokens, context, e, cached), ffn_ops(cfg, rows, e)
    residual = _elementwise("residual add", rows * cfg.d, 1, 2, e)
    if cfg.pre_norm:
        return [_norm(cfg, "", rows, e), *attention, residual, _norm(cfg, "", rows, e), *ffn, residual]
    return [*attention, residual, _norm(cfg, "", rows, e), *ffn, residual, _norm(cfg, "", rows, e)]


def _embedding(cfg, rows: int, e: float) -> Op:
    """Token (and position, and token-type) rows looked up and added: reads one
    row of each table per token. The Llama family has no position table."""
    tables = 1 + (cfg.arch != "llama") + cfg.token_types
    return Op("embeddings", "embedding", (tables - 1) * rows * cfg.d, e * (tables + 1) * rows * cfg.d,
              e * tables * rows * cfg.d)


LINEAR_GROUPS = ("projection", "ffn", "lm_head")


def in_weight_format(op: Op, e: float, w: float) -> Op:
    """A linear op whose weight matrix is stored at w bytes a weight, not e."""
    if op.group not in LINEAR_GROUPS or w == e:
        return op
    weights = op.weight_bytes * w / e
    return replace(op, bytes=op.bytes - op.weight_bytes + weights, weight_bytes=weights)


def pass_ops(cfg, batch: int, tokens: int, context: int, e: float, scope: str, decoder: bool,
             w: float = None) -> list:
    """Every op of one pass over the model (an encoder pass, a prompt, or one decode step);
    w: bytes a weight of the linear layers (default: a model file's tensors' own, else e:
    activations and weights alike)."""
    ops = layer_ops(cfg, batch, tokens, context, e, cached=decoder) * cfg.layers
    if scope == "model":
        rows = batch * tokens
        ops = [_embedding(cfg, rows, e)] + ops
        if decoder:   # the LM head reads d x vocab weights, tied to the embedding or not
            ops += [_norm(cfg, "final ", rows, e), _linear("LM head", "lm_head", rows, cfg.d, cfg.vocab, e)]
        else:
            ops.insert(1, _norm(cfg, "embedding ", rows, e))
    if w is not None:
        return [in_weight_format(op, e, w) for op in ops]
    file_bytes = dict(cfg.tensor_bytes)   # a model file: each linear op's weights as its tensors lie
    return [in_weight_format(op, e, file_bytes[op.name]) if op.name in file_bytes else op for op in ops]


PHASES = ("all", "prompt", "generate")


def passes(mode: str, seq: int, prompt: int, depth: int = 0, phase: str = "all"):
    """(tokens, context) of each pass: one encoder pass, or a prompt then one
    step per token, after `depth` positions already in the cache; phase
    'prompt' or 'generate' keeps that part of a decoder's passes only."""
    if mode == "encoder":
        return [(seq, seq)]
    prompt_pass = [(prompt, depth + prompt)] if prompt and phase != "generate" else []
    steps = [(1, depth + prompt + t) for t in range(1, seq + 1)] if phase != "prompt" else []
    return prompt_pass + steps


def model_weight_bytes(cfg, e: float, scope: str, decoder: bool, w: float = None) -> float:
    """Bytes of every weight one pass reads: what each pass streams again
    (the embedding's few looked-up rows left out)."""
    return sum(op.weight_bytes for op in pass_ops(cfg, 1, 1, 1, e, scope, decoder, w)
               if op.group != "embedding")


@dataclass(frozen=True)
class Analysis:
    model: str
    mode: str
    seq: int
    prompt: int
    batch: int
    bytes_per_element: float
    scope: str
    ops: tuple  # one Op per name, in the order they first run
    weight_bytes: float = 0.0  # weights one pass reads
    weights: str = ""  # the linear layers' weight format, if not bytes_per_element
    measured_wall_s: float = None  # the measured run end to end: the median token loop or encoder pass
    measured_cpu_stolen: float = None  # the share of CPU time the hypervisor took while it ran
    measured_tokens: tuple = None      # a decoder's generated token ids at scope model, from token 0

    @property
    def total_flops(self) -> float:
        return sum(op.flops for op in self.ops)

    @property
    def total_bytes(self) -> float:
        return sum(op.bytes for op in self.ops)

    @property
    def predicted_s(self) -> float:
        return sum(op.predicted_s for op in self.ops)

    @property
    def generated_tokens(self) -> int:
        """Tokens a decoder generates (one per step); 0 for an encoder."""
        return self.batch * self.seq if self.mode == "decoder" else 0

    @property
    def tokens_per_s(self) -> float:
        """A decoder's predicted tokens/s; None for an encoder or without a prediction."""
        return self.generated_tokens / self.predicted_s if self.generated_tokens and self.predicted_s else None

    def charged_seconds(self) -> dict:
        """{ceiling name: the predicted seconds it bound}."""
        shares = {}
        for op in self.ops:
            for (name, _), seconds in op.charged:
                shares[name] = shares.get(name, 0.0) + seconds
        return shares

    def ceilings_used(self, min_share: float = 0.01) -> set:
        """The ceilings that bound at least min_share of the predicted time."""
        return {name for name, seconds in self.charged_seconds().items() if seconds >= min_share * self.predicted_s}

    def group_totals(self) -> dict:
        """{group: Op} summed over the ops of each group."""
        totals = {}
        for op in self.ops:
            totals[op.group] = totals[op.group].plus(op) if op.group in totals else replace(op, name=op.group)
        return totals

    def to_dict(self) -> dict:
        record = {"model": self.model, "mode": self.mode, "seq": self.seq, "prompt": self.prompt,
                  "batch": self.batch, "bytes_per_element": self.bytes_per_element, "scope": self.scope,
                  "weights": self.weights or None,
                  "ops": [op.to_dict() for op in self.ops], "total_flops": self.total_flops,
                  "total_bytes": self.total_bytes, "ai": self.total_flops / self.total_bytes,
                  "weight_bytes": self.weight_bytes, "predicted_s": self.predicted_s}
        if self.tokens_per_s:
            record["tokens_per_s"] = self.tokens_per_s
        if self.measured_wall_s is not None:
            record["measured_s"] = self.measured_wall_s
            record["measured_cpu_stolen"] = self.measured_cpu_stolen
            if self.generated_tokens:
                record["measured_tokens_per_s"] = self.generated_tokens / self.measured_wall_s
        if self.measured_tokens is not None:
            record["tokens"] = list(self.measured_tokens)
        return record


def predict_op(op: Op, roofline, stream_levels: dict, dtype: str, weights: str = None) -> Op:
    """The op with its predicted time: max(FLOPs / the dtype's peak, memory
    time), the memory time charging each kind of bytes to the ceiling of its
    access pattern: weights and the key/value cache are read-only streams
    (the read-only ceiling of the level where all of them fit, stream_levels
    {'weights': level, 'cache': level}); activations are read and written (the
    read-write ceiling of the level where this op's activations fit). A
    linear op whose weights are in a quantised format cannot beat that
    format's measured unpack rate either (its in-cache GEMV GFLOP/s, in the
    roofline's extra['unpack']). The time is charged to the peak (or unpack
    rate), or to the memory ceiling of its largest term."""
    activations = op.bytes - op.weight_bytes - op.cache_bytes
    charges = [(op.weight_bytes, stream_levels["weights"], "read"), (op.cache_bytes, stream_levels["cache"], "read"),
               (activations, roofline.level_for(activations), "readwrite")]
    terms = [(nbytes / roofline.bandwidth(level, pattern) / 1e9, level, pattern)
             for nbytes, level, pattern in charges if nbytes > 0]
    memory = sum(seconds for seconds, _, _ in terms)
    peak, limit = roofline.peak(dtype), f"peak {dtype}"
    unpack = roofline.extra.get("unpack", {}).get(weights)
    if unpack and op.group in LINEAR_GROUPS and unpack < peak:
        peak, limit = unpack, f"unpack {weights}"
    compute = op.flops / peak / 1e9
    _, level, pattern = max(terms)
    ceiling = (limit, peak) if compute > memory else (
        f"{level} {'read-only' if pattern == 'read' else 'read-write'}", roofline.bandwidth(level, pattern))
    return replace(op, predicted_s=max(compute, memory), charged=((ceiling, max(compute, memory)),))


def compute_dtype(bytes_per_element: float) -> str:
    """The measured ceiling an element size runs at: float64 for 8 bytes, else
    float32 (the narrowest this CPU benchmark measures)."""
    return "float64" if bytes_per_element >= 8 else "float32"


def analyse(model: str, seq: int, mode: str = None, prompt: int = 0, batch: int = 1,
            bytes_per_element: float = 4, scope: str = "layers", roofline=None, weights: str = None,
            depth: int = 0, phase: str = "all") -> Analysis:
    """Every op of the model with its FLOPs, bytes, intensity and, given a
    Roofline, its predicted time; summed over layers and decode steps.
    weights: the linear layers' weight format (bwbench.formats) and its
    bytes per weight; default: bytes_per_element, as activations. depth:
    positions already in each sequence's cache before the prompt; phase: a
    decoder's passes counted (all, the prompt only, or the generated steps)."""
    cfg = load_config(model)
    w = formats.get(weights).bytes_per_weight if weights is not None else None
    mode = mode or cfg.mode
    for label, value in (("seq", seq), ("batch", batch)):
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"invalid {label} {value!r}: must be a positive whole number")
    for label, value in (("prompt", prompt), ("depth", depth)):
        if not isinstance(value, int) or value < 0:
            raise UsageError(f"invalid {label} {value!r}: must be zero or a positive whole number")
    if phase not in PHASES:
        raise UsageError(f"invalid phase {phase!r}: choose from {', '.join(PHASES)}")
    if not bytes_per_element > 0:
        raise UsageError(f"invalid bytes per element {bytes_per_element!r}: must be positive")
    if mode not in ("encoder", "decoder") or scope not in ("model", "layers"):
        raise UsageError(f"invalid mode {mode!r} or scope {scope!r}")
    decoder = mode == "decoder"
    e = bytes_per_element
    weight_bytes = model_weight_bytes(cfg, e, scope, decoder, w)
    summed = {}
    for tokens, context in passes(mode, seq, prompt, depth, phase):
        if roofline is not None:
            cache = 2 * cfg.layers * batch * context * cfg.d_kv * e
            levels = {"weights": roofline.level_for(weight_bytes), "cache": roofline.level_for(cache)}
        for op in pass_ops(cfg, batch, tokens, context, e, scope, decoder, w):
            if roofline is not None:
                op = predict_op(op, roofline, levels, compute_dtype(e), weights)
            summed[op.name] = summed[op.name].plus(op) if op.name in summed else op
    return Analysis(cfg.name, mode, seq, prompt if decoder else 0, batch, e, scope, tuple(summed.values()),
                    weight_bytes, weights=weights or "")


def bandwidth_only(roofline) -> list:
    """The quantised formats whose unpack rate the roofline lacks: predicted from their bytes alone."""
    return [fmt for fmt in formats.QUANTISED if fmt not in roofline.extra.get("unpack", {})]


def tokens_per_s_by_format(shape: tuple, roofline) -> tuple:
    """A decoder's predicted tokens/s with its linear layers' weights in each
    format (bwbench.formats) on the same roofline: ({format: tokens/s},
    [the quantised formats whose unpack rate the roofline lacks, so predicted
    from their bytes alone]). shape: analyse()'s arguments before roofline."""
    rates = {fmt: analyse(*shape, roofline, fmt).tokens_per_s for fmt in formats.NAMES}
    return rates, bandwidth_only(roofline)


def with_measured(analysis: Analysis, seconds: dict, wall_s: float, stolen: float = None,
                  tokens: list = None) -> Analysis:
    """The analysis with each op's measured seconds ({op name: s}), the run's
    wall time, the share of CPU time stolen from it and a decoder's generated tokens."""
    ops = tuple(replace(op, measured_s=seconds.get(op.name, 0.0)) for op in analysis.ops)
    return replace(analysis, ops=ops, measured_wall_s=wall_s, measured_cpu_stolen=stolen,
                   measured_tokens=tuple(tokens) if tokens is not None else None)


def tokens_agree(ours, theirs) -> int:
    """How many steps two engines' greedy tokens stay the same from the first:
    past the first difference each continues from a different token."""
    return next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))


def measure(analysis: Analysis, threads: int) -> tuple:
    """Runs the analysed model for real (bwbench.inference): ({op name: seconds}, wall seconds, CPU stolen,
    generated tokens or None)."""
    from bwbench.inference import run_model

    return run_model(load_config(analysis.model), analysis.mode, analysis.seq, analysis.scope, threads,
                     analysis.prompt, analysis.batch, analysis.bytes_per_element, analysis.weights or "f32")


def overlay_points(models, seq: int, roofline) -> list:
    """Each model's operation groups as roofline points: intensity and
    predicted GFLOP/s at float32, with the group and the mode for the marker;
    for a decoder also its whole decode step (scope model) with the linear
    layers' weights in each format, labelled with its predicted tokens/s:
    fewer bytes a weight move the step right along the read-only roof."""
    points = []
    for model in models:
        analysis = analyse(model, seq, roofline=roofline)
        for group, op in analysis.group_totals().items():
            points.append({"label": f"{model} ({analysis.mode}) {group}", "ai": op.ai,
                           "gflops": op.flops / op.predicted_s / 1e9, "group": group, "mode": analysis.mode})
        if analysis.mode != "decoder":
            continue
        for fmt in formats.NAMES:
            step = analyse(model, seq, "decoder", 0, 1, 4, "model", roofline, fmt)
            note = " (bandwidth only)" if fmt in bandwidth_only(roofline) else ""
            points.append({"label": f"{model} decode step, {fmt} weights: {step.tokens_per_s:.1f} tokens/s "
                                    f"predicted{note}",
                           "ai": step.total_flops / step.total_bytes,
                           "gflops": step.total_flops / step.predicted_s / 1e9,
                           "group": "step", "mode": "decoder"})
    return points
