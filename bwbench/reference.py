"""A plain numpy transformer: BERT, GPT-2 and the Llama family, float32, with
a key/value cache. The C inference path (bwbench.inference) is checked
against it: by the tests, and by every measured run on its first layer.
Weights are the dicts bwbench.inference.random_weights makes, or a model
file's (bwbench.model_files), whose matrices may differ in format: a dict's
"formats" names each one's where it is not the model's."""
import numpy as np

from bwbench import formats, quant

F32 = np.float32


def layernorm(x, w, b, eps):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps) * w + b


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w


def gelu(x):
    return F32(0.5) * x * (F32(1) + np.tanh(F32(0.7978845608) * (x + F32(0.044715) * x * x * x)))


def silu(x):
    return x / (F32(1) + np.exp(-x))


def _unpacked(value, weights: str, cols: int):
    """A matrix as float32: quantised rows (uint8) dequantised; anything else as it is."""
    if weights == "f32" or value is None or value.dtype != np.uint8:
        return value
    return quant.dequantize(value, weights, cols)


def linear(x, w, bias=None, weights: str = "f32"):
    if formats.FORMATS[weights].quantised_x:   # the C path multiplies x rounded to q8_0 blocks
        x = quant.dequantize(quant.quantize(x.reshape(-1, x.shape[-1]), "q8_0"), "q8_0", x.shape[-1]).reshape(x.shape)
    y = x @ w.T
    return y if bias is None else y + bias


def rotate(x, positions, theta):
    """Rotary embedding of x (tokens x heads x head_dim), rotate_half pairs."""
    half = x.shape[-1] // 2
    angles = np.outer(positions, theta ** (-2.0 * np.arange(half) / x.shape[-1]))
    cos, sin = np.cos(angles).astype(F32)[:, None, :], np.sin(angles).astype(F32)[:, None, :]
    x0, x1 = x[..., :half], x[..., half:]
    return np.concatenate([x0 * cos - x1 * sin, x1 * cos + x0 * sin], axis=-1)


class Reference:
    """The model of `cfg` (bwbench.models.ModelConfig) with its weights,
    keeping a key/value cache across passes as the C path does. weights: the
    matrices' format; quantised ones are dequantised, and for the block
    formats each linear layer's input is rounded to q8_0 blocks first, as the
    C path multiplies it."""

    def __init__(self, cfg, layers, top, max_pos: int, weights: str = "f32"):
        self.cfg, self.top = cfg, dict(top)
        widths = {"o": cfg.d_q, "down": cfg.d_ff}   # every other matrix reads d values
        self.layers = []
        for layer in layers:
            kinds = {name: layer.get("formats", {}).get(name, weights) for name in layer if name != "formats"}
            unpacked = {name: _unpacked(value, kinds[name], widths.get(name, cfg.d)) for name, value in layer.items()
                        if name != "formats"}
            self.layers.append({**unpacked, "formats": kinds})
        self.head_format = top.get("formats", {}).get("lm_head", weights)
        self.top["lm_head"] = _unpacked(top.get("lm_head"), self.head_format, cfg.d)
        shape = (max_pos, cfg.kv_heads, cfg.head_dim)
        self.keys = [np.zeros(shape, F32) for _ in layers]
        self.values = [np.zeros(shape, F32) for _ in layers]

    @staticmethod
    def _linear(x, w, name):
        """x times layer w's matrix `name` (and its bias), as the C path multiplies in its format."""
        return linear(x, w[name], w.get("b" + name), w["formats"][name])

    def _norm(self, x, w, b):
        return rmsnorm(x, w, self.cfg.norm_eps) if b is None else layernorm(x, w, b, self.cfg.norm_eps)

    def _attention(self, i, w, x, pos0, decoder):
        cfg, t = self.cfg, x.shape[0]
        q = self._linear(x, w, "q").reshape(t, cfg.heads, cfg.head_dim)
        k = self._linear(x, w, "k").reshape(t, cfg.kv_heads, cfg.head_dim)
        v = self._linear(x, w, "v").reshape(t, cfg.kv_heads, cfg.head_dim)
        if cfg.qk_norm:
            q, k = rmsnorm(q, w["q_norm_w"], cfg.norm_eps), rmsnorm(k, w["k_norm_w"], cfg.norm_eps)
        if cfg.rotary:
            positions = np.arange(pos0, pos0 + t)
            q, k = rotate(q, positions, cfg.rope_theta), rotate(k, positions, cfg.rope_theta)
        self.keys[i][pos0:pos0 + t], self.values[i][pos0:pos0 + t] = k, v
        context = pos0 + t
        group = cfg.heads // cfg.kv_heads
        keys = np.repeat(self.keys[i][:context], group, axis=1)      # context x heads x head_dim
        values = np.repeat(self.values[i][:context], group, axis=1)
        scores = np.einsum("thd,chd->htc", q, keys) / np.sqrt(F32(cfg.head_dim))
        if decoder:
            future = np.arange(context)[None, :] > (pos0 + np.arange(t))[:, None]
            scores = np.where(future[None], -np.inf, scores)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out = np.einsum("htc,chd->thd", scores, values).reshape(t, cfg.d_q)
        return self._linear(out, w, "o")

    def _ffn(self, w, x):
        act = silu if self.cfg.activation == "silu" else gelu
        if self.cfg.gated:
            gated = act(self._linear(x, w, "gate")) * self._linear(x, w, "up")
            return self._linear(gated, w, "down")
        return self._linear(act(self._linear(x, w, "up")), w, "down")

    def embed(self, tokens, pos0):
        top, x = self.top, self.top["tok_emb"][tokens]
        if top.get("pos_emb") is not None:
            x = x + top["pos_emb"][pos0:pos0 + len(tokens)]
        if top.get("type_emb") is not None:
            x = x + top["type_emb"]
        if top.get("emb_norm_w") is not None:
            x = layernorm(x, top["emb_norm_w"], top["emb_norm_b"], self.cfg.norm_eps)
        return x

    def forward(self, x, pos0: int, decoder: bool):
        """Hidden states after every layer, for x (tokens x d) at positions pos0.."""
        for i, w in enumerate(self.layers):
            if self.cfg.pre_norm:
                x = x + self._attention(i, w, self._norm(x, w["norm1_w"], w.get("norm1_b")), pos0, decoder)
                x = x + self._ffn(w, self._norm(x, w["norm2_w"], w.get("norm2_b")))
            else:
                x = self._norm(x + self._attention(i, w, x, pos0, decoder), w["norm1_w"], w.get("norm1_b"))
                x = self._norm(x + self._ffn(w, x), w["norm2_w"], w.get("norm2_b"))
        return x

    def logits(self, hidden):
        """The LM head's logits of the last token."""
        return linear(self._norm(hidden[-1], self.top["final_norm_w"], self.top.get("final_norm_b")),
                      self.top["lm_head"], None, self.head_format)
