"""The weights of a model file as the engine takes them (bwbench.inference's
layer and top dicts), whatever the file: a source (bwbench.gguf_model,
bwbench.hf_model) gives each tensor by its own name as (array, format),
memory-mapped where it lies, an array in bwbench's row form: float32 for f32,
else uint8 rows of the format's bytes (bwbench.formats); this module names
the tensors each family has, checks their shapes, and converts only what the
engine reads as float32 (embeddings, norms, biases) when the file stores it
otherwise. Matrices stay in their format: the engine regroups them at load."""
import numpy as np

from bwbench import formats, quant
from bwbench.errors import UsageError

# the engine's matrix names and the analysis's name of each one's op
LINEAR_OPS = {"q": "Q projection", "k": "K projection", "v": "V projection", "o": "output projection",
              "gate": "FFN gate", "up": "FFN up", "down": "FFN down", "lm_head": "LM head"}
LAYER_MATRICES = ("q", "k", "v", "o", "gate", "up", "down")


def matrix_shape(cfg, key: str) -> tuple:
    """(rows, cols) of a matrix as torch keeps it: out x in."""
    return {"q": (cfg.d_q, cfg.d), "k": (cfg.d_kv, cfg.d), "v": (cfg.d_kv, cfg.d), "o": (cfg.d, cfg.d_q),
            "gate": (cfg.d_ff, cfg.d), "up": (cfg.d_ff, cfg.d), "down": (cfg.d, cfg.d_ff),
            "lm_head": (cfg.vocab, cfg.d), "tok_emb": (cfg.vocab, cfg.d)}[key]


def vector_size(cfg, key: str) -> int:
    if key in ("q_norm_w", "k_norm_w"):
        return cfg.head_dim
    if key.startswith("b"):
        return matrix_shape(cfg, key[1:])[0]
    return cfg.d


def layer_keys(cfg) -> list:
    """The engine's names of one layer's tensors that cfg's architecture has."""
    keys = [key for key in LAYER_MATRICES if key != "gate" or cfg.gated]
    keys += ["b" + name for name in cfg.biases] + ["norm1_w", "norm2_w"]
    if not cfg.rms_norm:
        keys += ["norm1_b", "norm2_b"]
    return keys + (["q_norm_w", "k_norm_w"] if cfg.qk_norm else [])


def _check_rows(path: str, name: str, array, fmt: str, shape: tuple) -> None:
    rows, cols = shape
    width = cols if fmt == "f32" else quant.row_bytes(fmt, cols)
    if array.ndim != 2 or array.shape != (rows, width):
        raise UsageError(f"{path}: tensor {name} holds {array.shape}, not {rows} rows of {cols} {fmt} weights")


def _float32(path: str, name: str, array, fmt: str, size: int):
    """A vector (or a table, size = rows x cols) as float32: as it lies if it
    is f32, else dequantised (a copy: the engine reads these as float32)."""
    if fmt == "f32":
        if array.size != size:
            raise UsageError(f"{path}: tensor {name} holds {array.size} values, not {size}")
        return np.ascontiguousarray(array, dtype=np.float32)
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    cols = size // rows.shape[0]
    if rows.shape[0] * cols != size or rows.shape[1] != quant.row_bytes(fmt, cols):
        raise UsageError(f"{path}: tensor {name} does not hold {size} {fmt} values")
    values = quant.dequantize(np.ascontiguousarray(rows), fmt, cols)
    return values.reshape(-1) if array.ndim == 1 else values


def load(cfg, tensor, names: dict, embeddings: bool, head: bool) -> tuple:
    """(layers, top) of cfg from a file: tensor(file name) -> (array, format)
    or None when the file lacks it; names: {"layer": {engine key: file name
    with {i} for the layer}, "top": {engine key: file name}}."""
    def get(name):
        found = tensor(name)
        if found is None:
            raise UsageError(f"{cfg.path}: the file lacks tensor {name}, which {cfg.model_type} models have")
        return found

    layers = []
    for i in range(cfg.layers):
        layer, kinds = {}, {}
        for key in layer_keys(cfg):
            name = names["layer"][key].format(i=i)
            array, fmt = get(name)
            if key in LAYER_MATRICES:
                _check_rows(cfg.path, name, array, fmt, matrix_shape(cfg, key))
                layer[key], kinds[key] = np.ascontiguousarray(array), fmt
            else:
                layer[key] = _float32(cfg.path, name, array, fmt, vector_size(cfg, key))
        layer["formats"] = kinds
        layers.append(layer)
    top = {}
    if embeddings or head:
        array, fmt = get(names["top"]["tok_emb"])
        top["tok_emb"] = _float32(cfg.path, names["top"]["tok_emb"], array, fmt, cfg.vocab * cfg.d).reshape(
            cfg.vocab, cfg.d)
    if head:
        top["final_norm_w"] = _float32(cfg.path, names["top"]["final_norm_w"], *get(names["top"]["final_norm_w"]),
                                       cfg.d)
        name = names["top"]["tok_emb" if cfg.tied_embeddings else "lm_head"]
        array, fmt = get(name)
        _check_rows(cfg.path, name, array, fmt, matrix_shape(cfg, "lm_head"))
        top["lm_head"], top["formats"] = np.ascontiguousarray(array), {"lm_head": fmt}
    return layers, top


def check_runnable(cfg, formats_found: dict) -> None:
    """Refuses, before anything is measured, a file with a tensor of a type
    the engine cannot run; formats_found: {tensor name: its type's name}."""
    for name, kind in formats_found.items():
        if kind not in formats.BY_GGML_TYPE:
            supported = ", ".join(f.ggml_type for f in formats.FORMATS.values())
            raise UsageError(f"{cfg.path}: tensor {name} is {kind}, which bwbench's engine does not run "
                             f"(supported: {supported})")


def op_bytes(cfg, sizes: dict) -> tuple:
    """(op name, bytes a weight) of each linear op, over all layers: sizes
    maps each engine key (q, ..., lm_head) to [bytes, weights] summed from the
    file's tensors as they lie."""
    return tuple((LINEAR_OPS[key], nbytes / count) for key, (nbytes, count) in sizes.items() if count)
