"""Hugging Face folders as bwbench models: `--model DIR` holding config.json
and the weights in safetensors files (one, or shards listed by
model.safetensors.index.json).

The config is read as any config.json is (bwbench.models). Each safetensors
header is parsed here (8 bytes of little-endian length, then JSON: each
tensor's dtype, shape and [begin, end) in the data that follows), every
range checked against the file, and the tensors are numpy views of one
read-only np.memmap of the file: nothing is copied (the safetensors package
copies). F32, F16 and BF16 tensors run as they lie; the names are the
Llama family's (model.layers.N.self_attn.q_proj.weight, ...)."""
import dataclasses
import functools
import json
import os
import struct

import numpy as np

from bwbench import formats, model_files
from bwbench.errors import UsageError
from bwbench.models import config_from_dict, read_config

INDEX = "model.safetensors.index.json"
ITEM_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER = 100 * 2**20   # the safetensors format's own limit
PREFIX = "model.layers.{i}."
NAMES = {"layer": {"q": PREFIX + "self_attn.q_proj.weight", "k": PREFIX + "self_attn.k_proj.weight",
                   "v": PREFIX + "self_attn.v_proj.weight", "o": PREFIX + "self_attn.o_proj.weight",
                   "gate": PREFIX + "mlp.gate_proj.weight", "up": PREFIX + "mlp.up_proj.weight",
                   "down": PREFIX + "mlp.down_proj.weight", "bq": PREFIX + "self_attn.q_proj.bias",
                   "bk": PREFIX + "self_attn.k_proj.bias", "bv": PREFIX + "self_attn.v_proj.bias",
                   "bo": PREFIX + "self_attn.o_proj.bias", "bgate": PREFIX + "mlp.gate_proj.bias",
                   "bup": PREFIX + "mlp.up_proj.bias", "bdown": PREFIX + "mlp.down_proj.bias",
                   "norm1_w": PREFIX + "input_layernorm.weight", "norm2_w": PREFIX + "post_attention_layernorm.weight",
                   "q_norm_w": PREFIX + "self_attn.q_norm.weight", "k_norm_w": PREFIX + "self_attn.k_norm.weight"},
         "top": {"tok_emb": "model.embed_tokens.weight", "final_norm_w": "model.norm.weight",
                 "lm_head": "lm_head.weight"}}


def read_header(path: str) -> tuple:
    """(the data's offset in the file, {tensor name: (dtype, shape, begin, end)}) of a
    safetensors file, each range checked against the file; UsageError otherwise."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else None
            if length is None or length > min(MAX_HEADER, size - 8):
                raise UsageError(f"safetensors file {path}: its header length runs past the file's end")
            header = json.loads(f.read(length))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read safetensors file {path}: {error}") from None
    if not isinstance(header, dict):
        raise UsageError(f"safetensors file {path}: the header is not a JSON object")
    data, tensors = 8 + length, {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], [int(n) for n in entry["shape"]], entry["data_offsets"]
            count = int(np.prod(shape, dtype=np.int64))
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"safetensors file {path}: tensor {name}'s entry is malformed") from None
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= size - data):
            raise UsageError(f"safetensors file {path}: tensor {name} points past the file's end")
        if dtype in ITEM_BYTES and end - begin != count * ITEM_BYTES[dtype]:
            raise UsageError(f"safetensors file {path}: tensor {name} holds {end - begin} bytes, not {shape} {dtype}")
        tensors[name] = (dtype, shape, begin, end)
    return data, tensors


class HFFolder(model_files.ModelFile):
    """A Hugging Face folder read: its ModelConfig (cfg) and its tensors by name."""
    NAMES = NAMES

    def __init__(self, folder: str):
        config = os.path.join(folder, "config.json")
        if not os.path.isfile(config):
            raise UsageError(f"model folder {folder} has no config.json (a Hugging Face folder holds config.json "
                             "and *.safetensors)")
        cfg = config_from_dict(read_config(config), folder)
        if cfg.arch != "llama" or cfg.model_type == "gemma":
            raise UsageError(f"model folder {folder}: bwbench runs the weights of llama, mistral, qwen2 and qwen3 "
                             f"folders, not {cfg.model_type}")
        self.where, self.maps = {}, {}
        for shard in self._shards(folder):
            data, tensors = read_header(shard)
            for name, (dtype, shape, begin, end) in tensors.items():
                self.where[name] = (shard, data, dtype, shape, begin, end)
        if not self.where:
            raise UsageError(f"model folder {folder} holds no safetensors weights")
        self.sizes = {name: (end - begin, int(np.prod(shape)), dtype)
                      for name, (_, _, dtype, shape, begin, end) in self.where.items()}
        self.cfg = dataclasses.replace(cfg, path=folder)
        self.cfg = dataclasses.replace(self.cfg, tensor_bytes=self.op_bytes(self.cfg))

    @staticmethod
    def _shards(folder: str) -> list:
        """The safetensors files: those the shard index names (each must exist), else every one in the folder."""
        index = os.path.join(folder, INDEX)
        if not os.path.exists(index):
            return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".safetensors"))
        try:
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise UsageError(f"cannot read shard index {index}: {error}") from None
        for name in files:
            if not os.path.isfile(os.path.join(folder, name)):
                raise UsageError(f"shard index {index} names {name}, which the folder lacks")
        return [os.path.join(folder, name) for name in files]

    def _map(self, shard: str):
        if shard not in self.maps:
            self.maps[shard] = np.memmap(shard, dtype=np.uint8, mode="r")
        return self.maps[shard]

    def tensor(self, name: str):
        """(array in bwbench's row form, format) of a tensor, or None if absent: a view of the file."""
        if name not in self.where:
            return None
        shard, data, dtype, shape, begin, end = self.where[name]
        fmt = formats.BY_GGML_TYPE[dtype].name
        raw = self._map(shard)[data + begin:data + end]
        if fmt == "f32":
            return raw.view(np.float32).reshape(shape), fmt
        return raw.reshape(shape[0], -1) if len(shape) == 2 else raw, fmt


@functools.lru_cache(maxsize=4)
def _cached(folder: str, mtime: float) -> HFFolder:
    return HFFolder(folder)


def open_folder(folder: str) -> HFFolder:
    """The Hugging Face folder at `folder`, read once per process (while its config.json stays unchanged)."""
    config = os.path.join(folder, "config.json")
    return _cached(folder, os.path.getmtime(config) if os.path.exists(config) else 0.0)
