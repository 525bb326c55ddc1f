"""PyTorch with Hugging Face transformers as the reference engine: the same
model built from its config with random weights (nothing downloaded), run
the way bwbench runs it: float32, batch 1, the same threads, one warm-up pass,
torch.inference_mode; timed as bwbench times it, the median of
measure.PASSES encoder passes, or of as many decodes (one step per token from
token 0 with a fresh key/value cache, feeding back the argmax). The whole model runs (embeddings
and, for decoders, the LM head, as scope `model`)."""
import inspect

from bwbench.engines.optional import load
from bwbench.errors import UsageError
from bwbench.measure import median_pass

INSTALL = "install PyTorch and transformers: pip install -e '.[torch]'"


def _modules():
    return load(("torch", "transformers"), f"--reference torch needs PyTorch and transformers: {INSTALL}")


def check_available() -> None:
    """Refuses, before anything is measured, a run without the engine."""
    _modules()


def check(cfg, mode: str, weights: str) -> None:
    """Refuses, before anything is measured, what this adapter does not run."""
    if cfg.path:   # it builds the shape with random weights: not the file's model
        raise UsageError(f"--reference torch builds a config's shape with random weights, not {cfg.path}'s "
                         "weights: use --reference llama.cpp for a GGUF file")
    if weights != "f32":
        raise UsageError(f"--reference torch runs float32 weights, not {weights}")


def hf_config(cfg, positions: int):
    """The transformers config of a bwbench ModelConfig."""
    _, transformers = _modules()
    act = {"gelu": "gelu_new", "silu": "silu"}[cfg.activation]
    if cfg.arch == "bert":
        return transformers.BertConfig(vocab_size=cfg.vocab, hidden_size=cfg.d, num_hidden_layers=cfg.layers,
                                       num_attention_heads=cfg.heads, intermediate_size=cfg.d_ff, hidden_act=act,
                                       max_position_embeddings=max(512, positions), layer_norm_eps=cfg.norm_eps)
    if cfg.arch == "gpt2":
        return transformers.GPT2Config(vocab_size=cfg.vocab, n_embd=cfg.d, n_layer=cfg.layers, n_head=cfg.heads,
                                       n_inner=cfg.d_ff, activation_function=act, n_positions=max(1024, positions))
    return transformers.AutoConfig.for_model(
        cfg.model_type, vocab_size=cfg.vocab, hidden_size=cfg.d, intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.head_dim, hidden_act=act, rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta,
        max_position_embeddings=max(2048, positions), tie_word_embeddings=cfg.tied_embeddings,
        attention_bias="q" in cfg.biases and cfg.model_type != "qwen2")


def run(cfg, mode: str, seq: int, threads: int, weights: str = "f32") -> dict:
    """Times an encoder pass over `seq` tokens or `seq` decode steps, the
    median of PASSES runs as bwbench's own; returns the JSON record of transformer.reference."""
    torch, transformers = _modules()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = hf_config(cfg, seq)
    auto = transformers.AutoModelForCausalLM if mode == "decoder" else transformers.AutoModel
    model = auto.from_config(config).eval()   # float32 and the attention kernel transformers picks
    with torch.inference_mode():
        if mode == "encoder":
            ids = torch.randint(0, cfg.vocab, (1, seq))
            model(input_ids=ids)   # warm-up
            seconds, _ = median_pass(lambda _: model(input_ids=ids))
        else:
            _decode(torch, transformers, model, 2)   # warm-up
            seconds, _ = median_pass(lambda _: _decode(torch, transformers, model, seq))
    record = {"engine": "torch", "version": f"torch {torch.__version__}, transformers {transformers.__version__}",
              "threads": threads, "measured_s": seconds}
    if mode == "decoder":
        record["tokens_per_s"] = seq / seconds
    return record


def _decode(torch, transformers, model, steps: int) -> None:
    token, cache = torch.zeros((1, 1), dtype=torch.long), transformers.DynamicCache()
    # transformers 5 names the key/value cache `cache`, earlier releases `past_key_values`
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    for _ in range(steps):
        out = model(input_ids=token, use_cache=True, **{name: cache})
        cache, token = getattr(out, name), out.logits[:, -1:].argmax(-1)
