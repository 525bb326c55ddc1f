"""Transformer models as operations with FLOPs and bytes, and their time predicted
on a measured Roofline.

Counting follows Kim et al., "Full Stack Optimization of Transformer Inference"
(../shared/seed/NOTES.md):
- every operation reads all its inputs and weights once and writes its output
  once, with no reuse between operations; `bytes_per_element` bytes each;
- a dot product of length K is K multiplies and K - 1 adds; a linear layer adds
  its bias, so 2K FLOPs per output (biases, d values against d^2 weights, are
  left out of the bytes, as Kim et al. do); attention matmuls have no bias:
  2K - 1;
- softmax: 6 FLOPs per score (scale, max, subtract, exp, sum, divide); GELU 9
  (tanh form); LayerNorm 7 per element (mean, subtract, square, sum, scale by
  1/std, gamma, beta) and reads gamma and beta; residual add 1;
- encoder: all tokens at once. decoder: an optional prompt of P tokens at once,
  then `seq` steps of one token each; step t attends to the P + t cached
  positions (itself included) and re-reads every weight;
- scope `layers`: the transformer layers only (Kim et al.); `model` adds the
  embeddings and, for decoders, the final LayerNorm and the LM head.
With 1 byte per element, scope `layers`, BERT-Base at 128 tokens gives Kim et
al.'s Table 3: projections 7.25 GFLOPs at 192.00 FLOP/byte, attention 0.60 at
63.62, FFN 14.50 at 211.86.
"""
import json
from dataclasses import dataclass, replace

from bwbench.errors import UsageError

FIGURE_MODELS = ("bert-base", "bert-large", "gpt2")
SOFTMAX_FLOPS, GELU_FLOPS, LAYERNORM_FLOPS = 6, 9, 7


@dataclass(frozen=True)
class ModelConfig:
    name: str
    layers: int
    d: int
    heads: int
    d_ff: int
    vocab: int
    kv_heads: int
    mode: str          # the model's own default: "encoder" (BERT-style) or "decoder" (GPT-style)
    token_types: bool  # BERT adds a token-type embedding

    @property
    def d_head(self) -> int:
        return self.d // self.heads

    @property
    def d_kv(self) -> int:
        return self.kv_heads * self.d_head


BUILTIN = {
    "bert-base": ModelConfig("bert-base", 12, 768, 12, 3072, 30522, 12, "encoder", True),
    "bert-large": ModelConfig("bert-large", 24, 1024, 16, 4096, 30522, 16, "encoder", True),
    "gpt2": ModelConfig("gpt2", 12, 768, 12, 3072, 50257, 12, "decoder", False),
}

# Hugging Face config.json spellings, first match wins
_KEYS = {"layers": ("num_hidden_layers", "n_layer"), "d": ("hidden_size", "n_embd"),
         "heads": ("num_attention_heads", "n_head"), "vocab": ("vocab_size",)}


def _decoder_config(raw: dict) -> bool:
    architectures = " ".join(raw.get("architectures") or [])
    return bool(raw.get("is_decoder")) or "CausalLM" in architectures or "LMHead" in architectures \
        or raw.get("model_type") in ("gpt2", "gptj", "gpt_neox", "llama", "mistral", "opt", "falcon")


def load_config(name: str) -> ModelConfig:
    """A built-in model (bert-base, bert-large, gpt2) or a Hugging Face style config.json."""
    if name in BUILTIN:
        return BUILTIN[name]
    if not name.endswith(".json"):
        raise UsageError(f"unknown model {name!r}: choose from {', '.join(BUILTIN)} or give a config.json")
    try:
        with open(name) as f:
            raw = json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read model config {name}: {error}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"model config {name} is not a JSON object")
    values = {}
    for field, spellings in _KEYS.items():
        found = [raw[key] for key in spellings if raw.get(key) is not None]
        if not found:
            raise UsageError(f"model config {name} lacks {' or '.join(spellings)}")
        values[field] = found[0]
    d_ff = raw.get("intermediate_size") or raw.get("n_inner") or 4 * values["d"]
    kv_heads = raw.get("num_key_value_heads") or values["heads"]
    numbers = {**values, "d_ff": d_ff, "kv_heads": kv_heads}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in numbers.values()):
        raise UsageError(f"model config {name}: sizes must be positive whole numbers, got {numbers}")
    if values["d"] % values["heads"] or values["heads"] % kv_heads:
        raise UsageError(f"model config {name}: {values['heads']} heads do not divide hidden size "
                         f"{values['d']} (or key/value heads {kv_heads} do not divide the heads)")
    return ModelConfig(name, values["layers"], values["d"], values["heads"], d_ff, values["vocab"], kv_heads,
                       "decoder" if _decoder_config(raw) else "encoder", raw.get("type_vocab_size", 0) > 0)


@dataclass(frozen=True)
class Op:
    """One operation, summed over every time it runs. weight_bytes: the part of
    bytes that are weights (re-read every pass, so they stream from wherever
    the whole model's weights fit)."""

    name: str
    group: str
    flops: float
    bytes: float
    weight_bytes: float = 0.0
    predicted_s: float = 0.0
    measured_s: float = None

    @property
    def ai(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    def plus(self, other: "Op") -> "Op":
        measured = None if None in (self.measured_s, other.measured_s) else self.measured_s + other.measured_s
        return replace(self, flops=self.flops + other.flops, bytes=self.bytes + other.bytes,
                       weight_bytes=self.weight_bytes + other.weight_bytes,
                       predicted_s=self.predicted_s + other.predicted_s, measured_s=measured)

    def to_dict(self) -> dict:
        record = {"name": self.name, "group": self.group, "flops": self.flops, "bytes": self.bytes,
                  "ai": self.ai, "predicted_s": self.predicted_s}
        if self.measured_s is not None:
            record["measured_s"] = self.measured_s
        return record


def _linear(name, group, rows, k, n, e) -> Op:
    """rows x k activations times a k x n weight, plus bias: 2k FLOPs per output."""
    return Op(name, group, 2 * rows * k * n, e * (rows * k + k * n + rows * n), e * k * n)


def _elementwise(name, elements, flops_each, reads, e, weights=0) -> Op:
    """`reads` inputs of `elements` values, one output; `weights` extra values read."""
    return Op(name, "other", flops_each * elements, e * ((reads + 1) * elements + weights), e * weights)


def layer_ops(cfg: ModelConfig, batch: int, tokens: int, context: int, e: float) -> list:
    """One layer processing `tokens` new tokens per sequence that attend to
    `context` positions (tokens == context for an encoder)."""
    rows, d, h, dh = batch * tokens, cfg.d, cfg.heads, cfg.d_head
    scores = batch * h * tokens * context
    return [
        _linear("Q projection", "projection", rows, d, d, e),
        _linear("K projection", "projection", rows, d, cfg.d_kv, e),
        _linear("V projection", "projection", rows, d, cfg.d_kv, e),
        Op("Q·K^T", "attention", scores * (2 * dh - 1), e * (rows * d + batch * context * cfg.d_kv + scores)),
        _elementwise("softmax", scores, SOFTMAX_FLOPS, 1, e),
        Op("scores·V", "attention", batch * h * tokens * dh * (2 * context - 1),
           e * (scores + batch * context * cfg.d_kv + rows * d)),
        _linear("output projection", "projection", rows, d, d, e),
        _elementwise("residual add", rows * d, 1, 2, e),
        _elementwise("LayerNorm", rows * d, LAYERNORM_FLOPS, 1, e, weights=2 * d),
        _linear("FFN up", "ffn", rows, d, cfg.d_ff, e),
        _elementwise("GELU", rows * cfg.d_ff, GELU_FLOPS, 1, e),
        _linear("FFN down", "ffn", rows, cfg.d_ff, d, e),
        _elementwise("residual add", rows * d, 1, 2, e),
        _elementwise("LayerNorm", rows * d, LAYERNORM_FLOPS, 1, e, weights=2 * d),
    ]


def _embedding(cfg: ModelConfig, rows: int, e: float) -> Op:
    """Token and position (and token-type) lookups added: reads one row of each table per token."""
    tables = 3 if cfg.token_types else 2
    return Op("embeddings", "embedding", (tables - 1) * rows * cfg.d, e * (tables + 1) * rows * cfg.d,
              e * tables * rows * cfg.d)


def pass_ops(cfg: ModelConfig, batch: int, tokens: int, context: int, e: float, scope: str,
             decoder: bool) -> list:
    """Every op of one pass over the model (an encoder pass, a prompt, or one decode step)."""
    ops = layer_ops(cfg, batch, tokens, context, e) * cfg.layers
    if scope == "model":
        rows = batch * tokens
        ops = [_embedding(cfg, rows, e)] + ops
        if decoder:
            ops += [_elementwise("final LayerNorm", rows * cfg.d, LAYERNORM_FLOPS, 1, e, weights=2 * cfg.d),
                    _linear("LM head", "lm_head", rows, cfg.d, cfg.vocab, e)]
        else:
            ops.insert(1, _elementwise("embedding LayerNorm", rows * cfg.d, LAYERNORM_FLOPS, 1, e,
                                       weights=2 * cfg.d))
    return ops


def passes(mode: str, seq: int, prompt: int):
    """(tokens, context) of each pass: one encoder pass, or a prompt then one step per token."""
    if mode == "encoder":
        return [(seq, seq)]
    return ([(prompt, prompt)] if prompt else []) + [(1, prompt + t) for t in range(1, seq + 1)]


def model_weight_bytes(cfg: ModelConfig, e: float, scope: str, decoder: bool) -> float:
    """Bytes of every weight one pass reads: what each pass streams again."""
    return sum(op.weight_bytes for op in pass_ops(cfg, 1, 1, 1, e, scope, decoder)
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
    measured_wall_s: float = None  # the whole measured run, end to end

    @property
    def total_flops(self) -> float:
        return sum(op.flops for op in self.ops)

    @property
    def total_bytes(self) -> float:
        return sum(op.bytes for op in self.ops)

    @property
    def predicted_s(self) -> float:
        return sum(op.predicted_s for op in self.ops)


    def group_totals(self) -> dict:
        """{group: Op} summed over the ops of each group."""
        totals = {}
        for op in self.ops:
            totals[op.group] = totals[op.group].plus(op) if op.group in totals else replace(op, name=op.group)
        return totals

    def to_dict(self) -> dict:
        record = {"model": self.model, "mode": self.mode, "seq": self.seq, "prompt": self.prompt,
                  "batch": self.batch, "bytes_per_element": self.bytes_per_element, "scope": self.scope,
                  "ops": [op.to_dict() for op in self.ops], "total_flops": self.total_flops,
                  "total_bytes": self.total_bytes, "ai": self.total_flops / self.total_bytes,
                  "predicted_s": self.predicted_s}
        if self.measured_wall_s is not None:
            record["measured_s"] = self.measured_wall_s
        return record


def predict_op(op: Op, roofline, weight_level: str, dtype: str) -> float:
    """max(FLOPs / the dtype's peak, weights / bandwidth where all weights fit
    + activations / bandwidth where this op's activations fit)."""
    activations = op.bytes - op.weight_bytes
    memory = op.weight_bytes / roofline.bandwidth(weight_level) / 1e9 \
        + activations / roofline.bandwidth(roofline.level_for(activations)) / 1e9
    return max(op.flops / roofline.peak(dtype) / 1e9, memory)


def compute_dtype(bytes_per_element: float) -> str:
    """The measured ceiling an element size runs at: float64 for 8 bytes, else
    float32 (the narrowest this CPU benchmark measures)."""
    return "float64" if bytes_per_element >= 8 else "float32"


def analyse(model: str, seq: int, mode: str = None, prompt: int = 0, batch: int = 1,
            bytes_per_element: float = 4, scope: str = "layers", roofline=None) -> Analysis:
    """Every op of the model with its FLOPs, bytes, intensity and, given a
    Roofline, its predicted time; summed over layers and decode steps."""
    cfg = load_config(model)
    mode = mode or cfg.mode
    for label, value in (("seq", seq), ("batch", batch)):
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"invalid {label} {value!r}: must be a positive whole number")
    if not isinstance(prompt, int) or prompt < 0:
        raise UsageError(f"invalid prompt {prompt!r}: must be zero or a positive whole number")
    if not bytes_per_element > 0:
        raise UsageError(f"invalid bytes per element {bytes_per_element!r}: must be positive")
    if mode not in ("encoder", "decoder") or scope not in ("model", "layers"):
        raise UsageError(f"invalid mode {mode!r} or scope {scope!r}")
    decoder = mode == "decoder"
    e = bytes_per_element
    if roofline is not None:
        weight_level = roofline.level_for(model_weight_bytes(cfg, e, scope, decoder))
        dtype = compute_dtype(e)
    summed = {}
    for tokens, context in passes(mode, seq, prompt):
        for op in pass_ops(cfg, batch, tokens, context, e, scope, decoder):
            if roofline is not None:
                op = replace(op, predicted_s=predict_op(op, roofline, weight_level, dtype))
            summed[op.name] = summed[op.name].plus(op) if op.name in summed else op
    return Analysis(cfg.name, mode, seq, prompt if decoder else 0, batch, e, scope, tuple(summed.values()))


def measure(analysis: Analysis, threads: int = None) -> Analysis:
    """The analysis with each op's measured time from a real run (bwbench.inference)."""
    from bwbench.inference import run_model

    seconds, wall = run_model(load_config(analysis.model), analysis.mode, analysis.seq, analysis.scope,
                              threads, analysis.prompt, analysis.batch, analysis.bytes_per_element)
    ops = tuple(replace(op, measured_s=seconds.get(op.name, 0.0)) for op in analysis.ops)
    return replace(analysis, ops=ops, measured_wall_s=wall)


def overlay_points(models, seq: int, roofline) -> list:
    """Each model's operation groups as roofline points: intensity and
    predicted GFLOP/s at float32, with the group and the mode for the marker."""
    points = []
    for model in models:
        analysis = analyse(model, seq, roofline=roofline)
        for group, op in analysis.group_totals().items():
            points.append({"label": f"{model} ({analysis.mode}) {group}", "ai": op.ai,
                           "gflops": op.flops / op.predicted_s / 1e9, "group": group, "mode": analysis.mode})
    return points
