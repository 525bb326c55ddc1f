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


def _in_place(array):
    """The array as it lies in the file, unless it is not contiguous or not aligned to
    its values (then a copy: the C engine reads whole values)."""
    return np.require(array, requirements=["C", "A"])


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
        return _in_place(array)
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    cols = size // rows.shape[0]
    if rows.shape[0] * cols != size or rows.shape[1] != quant.row_bytes(fmt, cols):
        raise UsageError(f"{path}: tensor {name} does not hold {size} {fmt} values")
    values = quant.dequantize(np.ascontiguousarray(rows), fmt, cols)
    return values.reshape(-1) if array.ndim == 1 else values


def _part(name: str) -> tuple:
    """(the file's tensor name, p, n): "NAME#p/n" is the p-th of n equal runs of
    NAME's rows (GPT-2's Q, K and V in one fused tensor), a view; "NAME" all of it."""
    base, _, part = name.partition("#")
    p, _, n = part.partition("/")
    return base, int(p or 0), int(n or 1)


def load(cfg, tensor, names: dict, embeddings: bool, head: bool) -> tuple:
    """(layers, top) of cfg from a file: tensor(file name) -> (array, format)
    or None when the file lacks it; names: {"layer": {engine key: file name
    with {i} for the layer}, "top": {engine key: file name}}."""
    def get(name):
        base, p, n = _part(name)
        found = tensor(base)
        if found is None:
            raise UsageError(f"{cfg.path}: the file lacks tensor {base}, which {cfg.model_type} models have")
        array, fmt = found
        if array.shape[0] % n:
            raise UsageError(f"{cfg.path}: tensor {base}'s {array.shape[0]} rows do not split in {n}")
        rows = array.shape[0] // n
        return array[p * rows:(p + 1) * rows], fmt

    layers = []
    for i in range(cfg.layers):
        layer, kinds = {}, {}
        for key in layer_keys(cfg):
            if key not in names["layer"]:
                raise UsageError(f"{cfg.path}: bwbench does not read {key} tensors from this kind of file")
            name = names["layer"][key].format(i=i)
            array, fmt = get(name)
            if key in LAYER_MATRICES:
                _check_rows(cfg.path, name, array, fmt, matrix_shape(cfg, key))
                layer[key], kinds[key] = _in_place(array), fmt
            else:
                layer[key] = _float32(cfg.path, name, array, fmt, vector_size(cfg, key))
        layer["formats"] = kinds
        layers.append(layer)
    top = {}
    if embeddings or head:
        array, fmt = get(names["top"]["tok_emb"])
        top["tok_emb"] = _float32(cfg.path, names["top"]["tok_emb"], array, fmt, cfg.vocab * cfg.d).reshape(
            cfg.vocab, cfg.d)
    if embeddings and cfg.arch != "llama":   # learned positions, as many as the file has
        array, fmt = get(names["top"]["pos_emb"])
        top["pos_emb"] = _float32(cfg.path, names["top"]["pos_emb"], array, fmt, array.shape[0] * cfg.d).reshape(
            -1, cfg.d)
    if head:
        for key in ("final_norm_w",) + (("final_norm_b",) if not cfg.rms_norm else ()):
            top[key] = _float32(cfg.path, names["top"][key], *get(names["top"][key]), cfg.d)
        name = names["top"]["tok_emb" if cfg.tied_embeddings else "lm_head"]
        array, fmt = get(name)
        _check_rows(cfg.path, name, array, fmt, matrix_shape(cfg, "lm_head"))
        top["lm_head"], top["formats"] = _in_place(array), {"lm_head": fmt}
    return layers, top


class ModelFile:
    """What every model file gives: cfg (its ModelConfig), names(cfg) (engine key ->
    the file's tensor name, {i} for the layer), sizes ({tensor name: (bytes,
    weights, type name as ggml spells it)}) and tensor(name) -> (array,
    format) or None; from them, the analysis's byte counts and the engine's weights."""
    NAMES: dict
    sizes: dict
    cfg = None

    def names(self, cfg) -> dict:
        return self.NAMES

    @property
    def nbytes(self) -> int:
        return sum(size for size, _, _ in self.sizes.values())

    def types(self) -> dict:
        """{tensor name: its type's name}."""
        return {name: kind for name, (_, _, kind) in self.sizes.items()}

    def op_bytes(self, cfg) -> tuple:
        """(op name, bytes a weight) of each linear op, from its tensors as they lie in the file."""
        out = []
        spelled = self.names(cfg)
        for key in (*LAYER_MATRICES, "lm_head"):
            if key not in spelled["layer"] and key != "lm_head":
                continue
            names = [spelled["layer"][key].format(i=i) for i in range(cfg.layers)] if key != "lm_head" else \
                [spelled["top"]["tok_emb" if cfg.tied_embeddings else "lm_head"]]
            # a fused tensor's bytes a weight are its own: its whole size over its whole count
            found = [self.sizes[_part(name)[0]] for name in names if _part(name)[0] in self.sizes]
            count = sum(weights for _, weights, _ in found)
            if count:
                out.append((LINEAR_OPS[key], sum(size for size, _, _ in found) / count))
        return tuple(out)

    def tensor(self, name: str):
        raise NotImplementedError

    def weights(self, embeddings: bool, head: bool) -> tuple:
        """(layers, top) for bwbench.inference.engine; refuses a tensor type the engine does not run."""
        check_runnable(self.cfg, self.types())
        return load(self.cfg, self.tensor, self.names(self.cfg), embeddings, head)


def check_runnable(cfg, formats_found: dict) -> None:
    """Refuses, before anything is measured, a file with a tensor of a type
    the engine cannot run; formats_found: {tensor name: its type's name}."""
    for name, kind in formats_found.items():
        if kind not in formats.BY_GGML_TYPE:
            supported = ", ".join(f.ggml_type for f in formats.FORMATS.values())
            raise UsageError(f"{cfg.path}: tensor {name} is {kind}, which bwbench's engine does not run "
                             f"(supported: {supported})")
