"""Tiny model files the tests write for themselves: a GGUF file (gguf's
writer and quantisers, Q and K permuted as llama.cpp's converter permutes a
Llama model's) and a Hugging Face folder (config.json, safetensors headers
written with numpy), both from one set of Hugging Face-convention weights."""
import json
import struct

import numpy as np

from bwbench.engines.llama_cpp import write_metadata
from bwbench.models import config_from_dict

LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 80, "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0, "tie_word_embeddings": False}
QWEN2 = {**LLAMA, "model_type": "qwen2", "tie_word_embeddings": True, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}
QWEN3 = {**LLAMA, "model_type": "qwen3", "head_dim": 32, "rms_norm_eps": 1e-6}   # Q/K norms; heads x head_dim != d
K_QUANTS = ("Q4_K", "Q6_K")
MATRICES = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up",
            "down": "ffn_down"}
HF = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
      "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


def config(raw: dict):
    return config_from_dict(raw, raw["model_type"])


def hf_weights(raw: dict, seed: int = 5) -> dict:
    """{Hugging Face tensor name: float32 array} of a random model of raw's shape."""
    return dict(hf_tensors(raw, seed))


def hf_tensors(raw: dict, seed: int = 5):
    """hf_weights' (name, float32 array) pairs one at a time, so a large model
    is never whole in memory (scripts/model_file_check.py)."""
    cfg, rng = config(raw), np.random.default_rng(seed)
    shapes = {"q": (cfg.d_q, cfg.d), "k": (cfg.d_kv, cfg.d), "v": (cfg.d_kv, cfg.d), "o": (cfg.d, cfg.d_q),
              "gate": (cfg.d_ff, cfg.d), "up": (cfg.d_ff, cfg.d), "down": (cfg.d, cfg.d_ff)}

    def uniform(shape, low=-1.0, high=1.0):
        return rng.uniform(low, high, shape).astype(np.float32)

    yield "model.embed_tokens.weight", uniform((cfg.vocab, cfg.d))
    yield "model.norm.weight", 1 + uniform(cfg.d, -0.1, 0.1)
    if not cfg.tied_embeddings:
        yield "lm_head.weight", uniform((cfg.vocab, cfg.d)) / 8
    for i in range(cfg.layers):
        for key, (rows, cols) in shapes.items():
            yield f"model.layers.{i}.{HF[key]}.weight", uniform((rows, cols)) / np.float32(np.sqrt(cols))
        for key in cfg.biases:
            yield f"model.layers.{i}.{HF[key]}.bias", uniform(shapes[key][0], -0.1, 0.1)
        if cfg.qk_norm:
            for key in ("q", "k"):
                yield f"model.layers.{i}.self_attn.{key}_norm.weight", 1 + uniform(cfg.head_dim, -0.1, 0.1)
        yield f"model.layers.{i}.input_layernorm.weight", 1 + uniform(cfg.d, -0.1, 0.1)
        yield f"model.layers.{i}.post_attention_layernorm.weight", 1 + uniform(cfg.d, -0.1, 0.1)


def _gguf_name(name: str) -> str:
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
    if name in top:
        return top[name]
    _, _, i, rest = name.split(".", 3)
    rest = rest.replace("input_layernorm", "attn_norm").replace("post_attention_layernorm", "ffn_norm")
    rest = rest.replace("self_attn.q_norm", "attn_q_norm").replace("self_attn.k_norm", "attn_k_norm")
    for key, hf in HF.items():
        rest = rest.replace(hf, MATRICES[key])
    return f"blk.{i}.{rest}"


def permute(w, heads):
    """llama.cpp's convert_hf_to_gguf permute of Q and K rows (Llama only)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def matrix_type(name: str, types: dict) -> str:
    """The ggml type a tensor is written in: types[key] for a layer matrix or the
    output (keys q .. down, output), F32 for everything else."""
    parts = _gguf_name(name).split(".")
    if parts[0] in ("output", "token_embd"):
        return types.get(parts[0], "F32")
    key = next((k for k, v in MATRICES.items() if parts[0] == "blk" and v == parts[2]), None)
    return types.get(key, "F32") if parts[-1] == "weight" and key else "F32"


def write_gguf(path, raw: dict, weights: dict, types: dict, arch: str = None) -> None:
    """weights (hf_weights) as a GGUF file of architecture arch (default raw's model_type)."""
    import gguf
    cfg, arch = config(raw), arch or raw["model_type"]
    writer = gguf.GGUFWriter(str(path), arch)
    write_metadata(writer, cfg, 64)
    for name, value in weights.items():
        gguf_name = _gguf_name(name)
        if arch == "llama" and gguf_name.endswith(("attn_q.weight", "attn_k.weight")):
            value = permute(value, cfg.heads if "attn_q" in gguf_name else cfg.kv_heads)
        kind = getattr(gguf.GGMLQuantizationType, matrix_type(name, types))
        if kind.name == "F32":
            writer.add_tensor(gguf_name, value)
        else:
            writer.add_tensor(gguf_name, _quantize(value, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _quantize(value, kind):
    """gguf's quantiser; for the K-quants, which gguf's numpy code dequantises but cannot
    quantise, bwbench's (its bytes read back by gguf's dequantiser: tests/test_quant.py)."""
    import gguf
    if kind.name in K_QUANTS:
        from bwbench import formats, quant
        return quant.quantize(value, formats.BY_GGML_TYPE[kind.name].name)
    return gguf.quants.quantize(value, kind)


def as_stored(weights: dict, types: dict) -> dict:
    """weights as the file holds them, back in float32: quantised and dequantised by gguf's own code."""
    import gguf
    out = {}
    for name, value in weights.items():
        kind = getattr(gguf.GGMLQuantizationType, matrix_type(name, types))
        out[name] = value if kind.name == "F32" else \
            gguf.quants.dequantize(_quantize(value, kind), kind).astype(np.float32)
    return out


DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}


def write_safetensors(path, tensors: dict) -> None:
    """A safetensors file: 8-byte little-endian header length, JSON header, data."""
    header, offset, blobs = {}, 0, []
    for name, value in tensors.items():
        data = value.tobytes()
        header[name] = {"dtype": DTYPES.get(value.dtype, "BF16"), "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)   # as the format pads it: the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def bf16(values):
    """float32 values as bf16 (rounded to nearest even), a uint16 array the writer stores as BF16."""
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def rounded(weights: dict, dtype: str) -> dict:
    """weights rounded to dtype (F32, F16 or BF16) and back: what a folder in dtype holds, norms included."""
    back = {"F32": lambda v: v, "F16": lambda v: v.astype(np.float16).astype(np.float32),
            "BF16": lambda v: (bf16(v).astype(np.uint32) << 16).view(np.float32)}[dtype]
    return {name: back(value) for name, value in weights.items()}


def write_hf(folder, raw: dict, weights: dict, shards: int = 1, dtype: str = "F32") -> None:
    """A Hugging Face folder: config.json and weights in `shards` safetensors files
    (with model.safetensors.index.json when more than one), in dtype F32, F16 or BF16."""
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(raw))
    convert = {"F32": lambda v: v, "F16": lambda v: v.astype(np.float16), "BF16": bf16}[dtype]
    names = list(weights)
    if shards == 1:
        write_safetensors(folder / "model.safetensors", {n: convert(weights[n]) for n in names})
        return
    index = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s::shards]
        write_safetensors(folder / file, {n: convert(weights[n]) for n in part})
        index.update({n: file for n in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}))


def engine_dicts(raw: dict, weights: dict, types: dict) -> tuple:
    """(layers, top) of weights as bwbench.reference.Reference takes them, each
    matrix with the format the file stores it in (x is rounded as the engine's is)."""
    from bwbench import formats
    cfg, stored = config(raw), as_stored(weights, types)
    layers = []
    for i in range(cfg.layers):
        prefix = f"model.layers.{i}."
        layer = {key: stored[prefix + HF[key] + ".weight"] for key in HF}
        layer.update({"b" + key: stored[prefix + HF[key] + ".bias"] for key in cfg.biases})
        layer["norm1_w"], layer["norm2_w"] = stored[prefix + "input_layernorm.weight"], \
            stored[prefix + "post_attention_layernorm.weight"]
        if cfg.qk_norm:
            layer["q_norm_w"], layer["k_norm_w"] = stored[prefix + "self_attn.q_norm.weight"], \
                stored[prefix + "self_attn.k_norm.weight"]
        layer["formats"] = {key: formats.BY_GGML_TYPE[types.get(key, "F32")].name for key in HF}
        layers.append(layer)
    head = "token_embd" if cfg.tied_embeddings else "output"
    top = {"tok_emb": stored["model.embed_tokens.weight"], "final_norm_w": stored["model.norm.weight"],
           "lm_head": stored["model.embed_tokens.weight" if cfg.tied_embeddings else "lm_head.weight"],
           "formats": {"lm_head": formats.BY_GGML_TYPE[types.get(head, "F32")].name}}
    return layers, top


def write_gpt2_gguf(path, types: dict, layers: int = 2, d: int = 64, heads: int = 4, d_ff: int = 256,
                    vocab: int = 80, positions: int = 32) -> tuple:
    """A GPT-2 GGUF file as llama.cpp's converter writes one (Q, K and V fused in attn_qkv, out x in,
    LayerNorms with biases, learned positions), matrices in types ({"qkv", "o", "up", "down", "output"}:
    ggml type, default F32); returns (layers, top) of its weights as they are stored, for the reference."""
    import gguf
    from bwbench import formats
    rng, writer = np.random.default_rng(9), gguf.GGUFWriter(str(path), "gpt2")
    writer.add_block_count(layers)
    writer.add_context_length(positions)
    writer.add_embedding_length(d)
    writer.add_feed_forward_length(d_ff)
    writer.add_head_count(heads)
    writer.add_layer_norm_eps(1e-5)

    def add(name, value, kind="F32"):
        """Writes value (float32) in kind; returns it as stored, in float32."""
        value = value.astype(np.float32)
        if kind == "F32":
            writer.add_tensor(name, value)
            return value
        qtype = getattr(gguf.GGMLQuantizationType, kind)
        writer.add_tensor(name, _quantize(value, qtype), raw_dtype=qtype)
        return gguf.quants.dequantize(_quantize(value, qtype), qtype).astype(np.float32)

    def fmt(key):
        return formats.BY_GGML_TYPE[types.get(key, "F32")].name

    top = {"tok_emb": add("token_embd.weight", rng.uniform(-1, 1, (vocab, d))),
           "pos_emb": add("position_embd.weight", rng.uniform(-0.1, 0.1, (positions, d)))}
    out = []
    for i in range(layers):
        w = {}
        for n in (1, 2):
            w[f"norm{n}_w"] = add(f"blk.{i}.{'attn' if n == 1 else 'ffn'}_norm.weight", 1 + rng.uniform(-0.1, 0.1, d))
            w[f"norm{n}_b"] = add(f"blk.{i}.{'attn' if n == 1 else 'ffn'}_norm.bias", rng.uniform(-0.1, 0.1, d))
        qkv = add(f"blk.{i}.attn_qkv.weight", rng.uniform(-1, 1, (3 * d, d)) / np.sqrt(d), types.get("qkv", "F32"))
        bqkv = add(f"blk.{i}.attn_qkv.bias", rng.uniform(-0.1, 0.1, 3 * d))
        for p, key in enumerate("qkv"):
            w[key], w["b" + key] = qkv[p * d:(p + 1) * d], bqkv[p * d:(p + 1) * d]
        for key, name, shape in (("o", "attn_output", (d, d)), ("up", "ffn_up", (d_ff, d)),
                                 ("down", "ffn_down", (d, d_ff))):
            w[key] = add(f"blk.{i}.{name}.weight", rng.uniform(-1, 1, shape) / np.sqrt(shape[1]), types.get(key, "F32"))
            w["b" + key] = add(f"blk.{i}.{name}.bias", rng.uniform(-0.1, 0.1, shape[0]))
        w["formats"] = {"q": fmt("qkv"), "k": fmt("qkv"), "v": fmt("qkv"), "o": fmt("o"), "up": fmt("up"),
                        "down": fmt("down")}
        out.append(w)
    top["final_norm_w"] = add("output_norm.weight", 1 + rng.uniform(-0.1, 0.1, d))
    top["final_norm_b"] = add("output_norm.bias", rng.uniform(-0.1, 0.1, d))
    top["lm_head"] = add("output.weight", rng.uniform(-1, 1, (vocab, d)) / 8, types.get("output", "F32"))
    top["formats"] = {"lm_head": fmt("output")}
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out, top
