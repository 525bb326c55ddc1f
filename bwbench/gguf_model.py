"""GGUF files (llama.cpp's) as bwbench models: `--model PATH.gguf`.

The architecture and its hyperparameters come from the file's metadata
through the gguf package's reader (an optional extra: `pip install
'bwbench[gguf]'`): general.architecture, {arch}.block_count,
.embedding_length, .feed_forward_length, .attention.head_count(_kv),
.attention.key_length, .rope.freq_base, .attention.layer_norm_rms_epsilon;
the vocabulary from the token embedding's rows; the output tied to the
embedding where the file has no output.weight. The tensors stay memory-mapped
(the reader's np.memmap views); every one's offset and size is checked
against the file first. The analysis counts each linear op's bytes from its
tensors' real types, any ggml type; a run (--measure) takes f32, f16, bf16,
q8_0 and q4_0 tensors as they lie and refuses any other type by name.

llama.cpp's converter permutes the rows of a Llama model's Q and K so that its
rotary embedding turns adjacent pairs; bwbench turns the halves of each head
(Hugging Face's rotate_half), so those rows are put back in Hugging Face's
order at load (a copy of Q and K). Qwen2 and Qwen3 files are not permuted."""
import dataclasses
import functools
import os

import numpy as np

from bwbench import formats, model_files
from bwbench.errors import UsageError
from bwbench.models import ATTENTION, FFN, ModelConfig

INSTALL = "pip install 'bwbench[gguf]'"
ARCHITECTURES = ("llama", "qwen2", "qwen3", "gpt2")   # the Llama family's, and GPT-2
PERMUTED_QK = ("llama",)                      # rope "norm" in llama.cpp: Q and K rows interleaved by the converter
NAMES = {"layer": {"q": "blk.{i}.attn_q.weight", "k": "blk.{i}.attn_k.weight", "v": "blk.{i}.attn_v.weight",
                   "o": "blk.{i}.attn_output.weight", "gate": "blk.{i}.ffn_gate.weight",
                   "up": "blk.{i}.ffn_up.weight", "down": "blk.{i}.ffn_down.weight",
                   "bq": "blk.{i}.attn_q.bias", "bk": "blk.{i}.attn_k.bias", "bv": "blk.{i}.attn_v.bias",
                   "bo": "blk.{i}.attn_output.bias", "norm1_w": "blk.{i}.attn_norm.weight",
                   "norm2_w": "blk.{i}.ffn_norm.weight", "q_norm_w": "blk.{i}.attn_q_norm.weight",
                   "k_norm_w": "blk.{i}.attn_k_norm.weight"},
         "top": {"tok_emb": "token_embd.weight", "final_norm_w": "output_norm.weight", "lm_head": "output.weight"}}
# GPT-2: Q, K and V are thirds of one fused tensor's rows; LayerNorms with biases; learned positions
GPT2_NAMES = {"layer": {**{key: f"blk.{{i}}.attn_qkv.weight#{p}/3" for p, key in enumerate("qkv")},
                        **{"b" + key: f"blk.{{i}}.attn_qkv.bias#{p}/3" for p, key in enumerate("qkv")},
                        "o": "blk.{i}.attn_output.weight", "bo": "blk.{i}.attn_output.bias",
                        "up": "blk.{i}.ffn_up.weight", "bup": "blk.{i}.ffn_up.bias",
                        "down": "blk.{i}.ffn_down.weight", "bdown": "blk.{i}.ffn_down.bias",
                        "norm1_w": "blk.{i}.attn_norm.weight", "norm1_b": "blk.{i}.attn_norm.bias",
                        "norm2_w": "blk.{i}.ffn_norm.weight", "norm2_b": "blk.{i}.ffn_norm.bias"},
              "top": {"tok_emb": "token_embd.weight", "pos_emb": "position_embd.weight",
                      "final_norm_w": "output_norm.weight", "final_norm_b": "output_norm.bias",
                      "lm_head": "output.weight"}}


def _gguf():
    try:
        import gguf
    except ImportError:
        raise UsageError(f"reading a GGUF file needs the gguf package: {INSTALL}") from None
    return gguf


class GGUFModel(model_files.ModelFile):
    """A GGUF file read: its ModelConfig (cfg) and its tensors by name."""
    NAMES = NAMES

    def names(self, cfg) -> dict:
        return GPT2_NAMES if cfg.arch == "gpt2" else NAMES

    def __init__(self, path: str):
        gguf = _gguf()
        try:
            size = os.path.getsize(path)
            self.reader = gguf.GGUFReader(path, "r")
        except (OSError, ValueError, IndexError, KeyError, TypeError, OverflowError) as error:
            raise UsageError(f"cannot read GGUF file {path}: {error}") from None
        self.path = path
        self.tensors = {t.name: t for t in self.reader.tensors}
        for t in self.tensors.values():
            if t.data_offset + t.n_bytes > size:
                raise UsageError(f"GGUF file {path} is truncated: tensor {t.name} ends past the file's end")
        self.sizes = {name: (int(t.n_bytes), int(t.n_elements), t.tensor_type.name) for name, t in self.tensors.items()}
        self.cfg = self._config()

    def _field(self, key: str, default=None):
        field = self.reader.fields.get(key)
        if field is None:
            if default is None:
                raise UsageError(f"GGUF file {self.path} lacks metadata {key}")
            return default
        return field.contents()

    def _count(self, key: str, default=None) -> int:
        value = self._field(key, default)
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"GGUF file {self.path}: {key} must be a positive whole number, got {value!r}")
        return value

    def _positive(self, key: str, default: float) -> float:
        value = self._field(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise UsageError(f"GGUF file {self.path}: {key} must be a positive number, got {value!r}")
        return float(value)

    def _config(self) -> ModelConfig:
        arch = self._field("general.architecture")
        if arch not in ARCHITECTURES:
            raise UsageError(f"GGUF file {self.path}: architecture {arch!r} is not supported "
                             f"(supported: {', '.join(ARCHITECTURES)})")
        layers, d = self._count(f"{arch}.block_count"), self._count(f"{arch}.embedding_length")
        heads = self._count(f"{arch}.attention.head_count")
        kv_heads = self._count(f"{arch}.attention.head_count_kv", heads)
        head_dim = self._count(f"{arch}.attention.key_length", d // heads or 1)
        if heads % kv_heads or head_dim % 2:
            raise UsageError(f"GGUF file {self.path}: {kv_heads} key/value heads must divide {heads} heads "
                             f"and head_dim {head_dim} be even")
        embedding = self.tensors.get("token_embd.weight")
        if embedding is None or len(embedding.shape) != 2 or int(embedding.shape[0]) != d:
            raise UsageError(f"GGUF file {self.path} lacks a token embedding token_embd.weight of width {d}")
        if arch == "gpt2":   # LayerNorm, GELU, a bias on every linear layer
            family = {"arch": "gpt2", "activation": "gelu", "biases": ATTENTION + FFN["gpt2"]}
            eps = self._positive("gpt2.attention.layer_norm_epsilon", 1e-5)
        else:
            family = {"arch": "llama", "activation": "silu", "qk_norm": "blk.0.attn_q_norm.weight" in self.tensors,
                      "biases": tuple(name for name in ("q", "k", "v", "o")
                                      if f"blk.0.attn_{'output' if name == 'o' else name}.bias" in self.tensors)}
            eps = self._positive(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
        theta = self._positive(f"{arch}.rope.freq_base", 10000.0)
        cfg = ModelConfig(name=self.path, layers=layers, d=d, heads=heads, vocab=int(embedding.shape[1]),
                          d_ff=self._count(f"{arch}.feed_forward_length"), kv_heads=kv_heads, head_dim=head_dim,
                          mode="decoder", model_type=arch, tied_embeddings="output.weight" not in self.tensors,
                          rope_theta=theta, norm_eps=eps, path=self.path, **family)
        return dataclasses.replace(cfg, tensor_bytes=self.op_bytes(cfg))

    def tensor(self, name: str):
        """(array in bwbench's row form, format) of a tensor, or None if absent."""
        t = self.tensors.get(name)
        if t is None:
            return None
        fmt = formats.BY_GGML_TYPE[t.tensor_type.name].name
        data = t.data if fmt == "f32" else t.data.view(np.uint8)   # f16 comes as float16, the others as bytes
        if self.cfg.model_type in PERMUTED_QK and (name.endswith("attn_q.weight") or name.endswith("attn_k.weight")):
            heads = self.cfg.heads if name.endswith("attn_q.weight") else self.cfg.kv_heads
            rows = data.shape[0]   # llama.cpp's pairs (i, i + 1) back to Hugging Face's halves (i, i + dh/2)
            data = data.reshape(heads, rows // heads // 2, 2, -1).swapaxes(1, 2).reshape(rows, -1)
        return data, fmt


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> GGUFModel:
    return GGUFModel(path)


def open_gguf(path: str) -> GGUFModel:
    """The GGUF file at path, read once per process (while it stays unchanged)."""
    try:
        mtime = os.path.getmtime(path)
    except OSError as error:
        raise UsageError(f"cannot read GGUF file {path}: {error.strerror}") from None
    return _cached(path, mtime)
