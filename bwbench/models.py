"""Model configurations: the built-in models, Hugging Face style config.json
files, and model files (a GGUF file: bwbench.gguf_model; a Hugging Face
folder of config.json and safetensors: bwbench.hf_model), read into one
ModelConfig per architecture family.

Three families are told apart from `model_type` (else from `architectures`):

- bert: post-LayerNorm, GELU, biases on every linear layer, learned positions
  and token types; an encoder;
- gpt2: pre-LayerNorm, GELU, biases on every linear layer, learned positions;
- llama (llama, mistral, qwen2, qwen3, gemma): pre-RMSNorm, a gated FFN of three
  matrices (gate, up, down) with a SiLU or GELU gate, rotary embeddings on Q and
  K, grouped key/value heads, an explicit head_dim where the config gives one,
  Q/K/V biases where the config says so (Qwen2 always), Qwen3's RMSNorm on each
  head of Q and K.

Anything else is refused: never counted as something it is not."""
import json
import os
import re
from dataclasses import dataclass

from bwbench.errors import UsageError

LLAMA_FAMILY = ("llama", "mistral", "qwen2", "qwen3", "gemma")
MODEL_TYPES = {"bert": "bert", "gpt2": "gpt2", **{name: "llama" for name in LLAMA_FAMILY}}
# `architectures` entries of the supported model types, e.g. LlamaForCausalLM, GPT2LMHeadModel, BertModel
_ARCHITECTURE = re.compile(r"^(Bert|GPT2|Llama|Mistral|Qwen2|Qwen3|Gemma)(For[A-Za-z]+|LMHeadModel|Model)$")
ATTENTION = ("q", "k", "v", "o")
FFN = {"bert": ("up", "down"), "gpt2": ("up", "down"), "llama": ("gate", "up", "down")}


@dataclass(frozen=True)
class ModelConfig:
    name: str
    arch: str                 # "bert", "gpt2" or "llama" (the Llama family)
    layers: int
    d: int
    heads: int
    d_ff: int
    vocab: int
    kv_heads: int
    head_dim: int
    mode: str                 # the model's own default: "encoder" (bert) or "decoder"
    model_type: str = ""      # config.json's: bert, gpt2, llama, mistral, qwen2, qwen3, gemma
    activation: str = "gelu"  # "gelu" (tanh form) or "silu"
    biases: tuple = ()        # the linear layers with a bias: q, k, v, o, gate, up, down
    token_types: bool = False  # bert adds a token-type embedding
    qk_norm: bool = False     # qwen3: RMSNorm on each head of Q and K
    tied_embeddings: bool = False
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    path: str = ""            # the model file (or folder) whose weights a run loads; empty: random weights
    tensor_bytes: tuple = ()  # a model file's (op name, bytes a weight) of each linear op, as its tensors lie

    @property
    def d_head(self) -> int:
        return self.head_dim

    @property
    def d_q(self) -> int:
        return self.heads * self.head_dim

    @property
    def d_kv(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def gated(self) -> bool:
        return self.arch == "llama"

    @property
    def rms_norm(self) -> bool:
        return self.arch == "llama"

    @property
    def rotary(self) -> bool:
        return self.arch == "llama"

    @property
    def pre_norm(self) -> bool:
        return self.arch != "bert"

    @property
    def ffn_matrices(self) -> tuple:
        return FFN[self.arch]


def _bert(name, layers, d, heads, d_ff):
    return ModelConfig(name, "bert", layers, d, heads, d_ff, 30522, heads, d // heads, "encoder", "bert",
                       biases=ATTENTION + FFN["bert"], token_types=True, norm_eps=1e-12)


def _llama(name, layers, d, heads, kv_heads, d_ff, vocab, head_dim, model_type="llama", **extra):
    return ModelConfig(name, "llama", layers, d, heads, d_ff, vocab, kv_heads, head_dim, "decoder", model_type,
                       activation="silu", **extra)


BUILTIN = {config.name: config for config in (
    _bert("bert-base", 12, 768, 12, 3072),
    _bert("bert-large", 24, 1024, 16, 4096),
    ModelConfig("gpt2", "gpt2", 12, 768, 12, 3072, 50257, 12, 64, "decoder", "gpt2", biases=ATTENTION + FFN["gpt2"],
                tied_embeddings=True),
    # published shapes: TinyLlama/TinyLlama-1.1B-Chat-v1.0, meta-llama/Meta-Llama-3-8B, Qwen/Qwen2.5-0.5B
    _llama("tinyllama-1.1b", 22, 2048, 32, 4, 5632, 32000, 64),
    _llama("llama-3-8b", 32, 4096, 32, 8, 14336, 128256, 128, rope_theta=500000.0),
    _llama("qwen2.5-0.5b", 24, 896, 14, 2, 4864, 151936, 64, model_type="qwen2", biases=("q", "k", "v"),
           tied_embeddings=True,
           rope_theta=1000000.0, norm_eps=1e-6),
)}

# config.json spellings, first match wins
_KEYS = {"layers": ("num_hidden_layers", "n_layer"), "d": ("hidden_size", "n_embd"),
         "heads": ("num_attention_heads", "n_head"), "vocab": ("vocab_size",)}


_EPS_KEYS = ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")


def _model_type(raw: dict, name: str) -> str:
    model_type = raw.get("model_type")
    architectures = raw.get("architectures") or []
    if not isinstance(model_type, (str, type(None))) or not isinstance(architectures, list):
        raise UsageError(f"model config {name}: model_type must be a string and architectures a list")
    if model_type is None:
        for architecture in architectures:
            match = _ARCHITECTURE.match(str(architecture))
            if match:
                model_type = match.group(1).lower()
                break
    if model_type not in MODEL_TYPES:
        found = f"model_type {model_type!r}" if model_type is not None else "no model_type or known architecture"
        raise UsageError(f"model config {name}: {found} is not supported "
                         f"(supported: {', '.join(MODEL_TYPES)})")
    return model_type


def _number(raw: dict, spellings, name: str, default=None):
    found = [raw[key] for key in spellings if raw.get(key) is not None]
    value = found[0] if found else default
    if value is None:
        raise UsageError(f"model config {name} lacks {' or '.join(spellings)}")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"model config {name}: {spellings[0]} must be a positive whole number, got {value!r}")
    return value


def _activation(raw: dict, name: str, default: str) -> str:
    text = raw.get("hidden_act") or raw.get("hidden_activation") or raw.get("activation_function") or default
    if not isinstance(text, str) or not ("gelu" in text or text in ("silu", "swish")):
        raise UsageError(f"model config {name}: activation {text!r} is not supported (gelu or silu)")
    return "gelu" if "gelu" in text else "silu"


def _positive_float(raw: dict, key: str, name: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageError(f"model config {name}: {key} must be a positive number, got {value!r}")
    return float(value)


def _biases(raw: dict, model_type: str, arch: str) -> tuple:
    if arch != "llama":
        return ATTENTION + FFN[arch]
    if model_type == "qwen2":
        return ("q", "k", "v")
    return (ATTENTION if raw.get("attention_bias") else ()) + (FFN["llama"] if raw.get("mlp_bias") else ())


def config_from_dict(raw: dict, name: str) -> ModelConfig:
    """A ModelConfig from a parsed config.json; UsageError for anything unsupported or inconsistent."""
    if not isinstance(raw, dict):
        raise UsageError(f"model config {name} is not a JSON object")
    model_type = _model_type(raw, name)
    arch = MODEL_TYPES[model_type]
    n = {field: _number(raw, spellings, name) for field, spellings in _KEYS.items()}
    d_ff = _number(raw, ("intermediate_size", "n_inner"), name, None if arch != "gpt2" else 4 * n["d"])
    kv_heads = _number(raw, ("num_key_value_heads",), name, n["heads"]) if arch == "llama" else n["heads"]
    explicit_head_dim = arch == "llama" and raw.get("head_dim") is not None
    head_dim = _number(raw, ("head_dim",), name) if explicit_head_dim else n["d"] // n["heads"]
    if not explicit_head_dim and n["d"] % n["heads"]:
        raise UsageError(f"model config {name}: {n['heads']} heads do not divide hidden size {n['d']} "
                         "(give head_dim)")
    if n["heads"] % kv_heads:
        raise UsageError(f"model config {name}: {kv_heads} key/value heads do not divide {n['heads']} heads")
    if arch == "llama" and head_dim % 2:
        raise UsageError(f"model config {name}: head_dim {head_dim} is odd; rotary embeddings rotate pairs")
    default_act = "gelu" if arch != "llama" or model_type == "gemma" else "silu"
    return ModelConfig(
        name, arch, n["layers"], n["d"], n["heads"], d_ff, n["vocab"], kv_heads, head_dim,
        "encoder" if arch == "bert" else "decoder", model_type, activation=_activation(raw, name, default_act),
        biases=_biases(raw, model_type, arch), token_types=arch == "bert" and raw.get("type_vocab_size", 2) != 0,
        qk_norm=model_type == "qwen3",
        tied_embeddings=bool(raw.get("tie_word_embeddings", model_type in ("gpt2", "gemma"))),
        rope_theta=_positive_float(raw, "rope_theta", name, 10000.0),
        norm_eps=_positive_float(raw, next((key for key in _EPS_KEYS if key in raw), _EPS_KEYS[0]), name,
                                 1e-6 if arch == "llama" else 1e-5))


def model_file(cfg: ModelConfig):
    """The opened model file of cfg (a GGUF file or a Hugging Face folder):
    .weights(embeddings, head) for the engine, .types() of its tensors, .nbytes."""
    if cfg.path.endswith(".gguf"):
        from bwbench import gguf_model
        return gguf_model.open_gguf(cfg.path)
    from bwbench import hf_model
    return hf_model.open_folder(cfg.path)


def load_config(name: str) -> ModelConfig:
    """A built-in model, a Hugging Face style config.json, a GGUF file or a
    Hugging Face folder (config.json and safetensors)."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name.endswith(".gguf"):
        from bwbench import gguf_model
        return gguf_model.open_gguf(name).cfg
    if os.path.isdir(name):
        from bwbench import hf_model
        return hf_model.open_folder(name).cfg
    if not name.endswith(".json"):
        raise UsageError(f"unknown model {name!r}: choose from {', '.join(BUILTIN)}, or give a config.json, "
                         "a .gguf file or a Hugging Face folder")
    return config_from_dict(read_config(name), name)


def read_config(path: str) -> dict:
    """A config.json file, parsed; UsageError (one line) if it cannot be read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read model config {path}: {error}") from None
