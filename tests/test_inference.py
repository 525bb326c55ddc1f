"""The C inference path against the numpy reference: every architecture,
encoder passes, prompts and decode steps with a key/value cache, on tiny
configs with random weights."""
import numpy as np
import pytest

from bwbench import _kernels
from bwbench.errors import ArgumentError, ValidationError
from bwbench.inference import RTOL, ATOL, engine, op_names, random_weights, run_model
from bwbench.measure import PASSES
from bwbench.models import BUILTIN, ModelConfig, config_from_dict
from bwbench.reference import Reference
from conftest import THREADS

MOST = max(THREADS)   # the most threads the tests run: 2 where there are 2 CPUs, else 1

LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 48, "vocab_size": 50}
TINY = {
    "bert": ModelConfig("bert", "bert", 2, 32, 4, 64, 50, 4, 8, "encoder", biases=("q", "k", "v", "o", "up", "down"),
                        token_types=True),
    "gpt2": ModelConfig("gpt2", "gpt2", 2, 32, 4, 64, 50, 4, 8, "decoder", biases=("q", "k", "v", "o", "up", "down"),
                        tied_embeddings=True),
    "llama": config_from_dict(LLAMA, "llama"),
    "qwen2": config_from_dict({**LLAMA, "model_type": "qwen2", "tie_word_embeddings": True}, "qwen2"),
    # per-head norms 12 wide: the vector loops' remainders run too
    "qwen3": config_from_dict({**LLAMA, "model_type": "qwen3", "head_dim": 12}, "qwen3"),
    "gemma": config_from_dict({**LLAMA, "model_type": "gemma", "num_key_value_heads": 1, "head_dim": 12}, "gemma"),
}
LLAMA64 = config_from_dict({**LLAMA, "intermediate_size": 64}, "llama")   # rows of whole 32-weight blocks


def build(cfg, max_pos=48, isa=None):
    layers, top = random_weights(cfg, np.random.default_rng(3), True, cfg.mode == "decoder", max_pos)
    return engine(cfg, layers, top, max_pos, max_pos, isa), Reference(cfg, layers, top, max_pos)


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def batch_at_depths(cfg, threads, depths=(1, 6, 4), weights="f32"):
    """An engine of len(depths) sequences, each sequence's prompt (of its depth)
    in its own cache, beside one numpy model a sequence with the same prompt."""
    layers, top = random_weights(cfg, np.random.default_rng(3), True, True, 48, weights)
    c = engine(cfg, layers, top, 48, 8, max_seqs=len(depths), weights=weights)
    refs = [Reference(cfg, layers, top, 48, weights) for _ in depths]
    rng = np.random.default_rng(5)
    for q, (depth, ref) in enumerate(zip(depths, refs)):
        prompt = rng.integers(0, cfg.vocab, depth).astype(np.int32)
        c.run(threads, True, prompt, np.empty((depth, cfg.d), np.float32), 0, False, None,
              np.zeros(_kernels.INFER_OPS), first_seq=q)
        ref.forward(ref.embed(prompt, 0), 0, True)
    return c, refs, list(depths)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name, weights", [("gpt2", "f32"), ("llama", "f32"), ("gemma", "f32"),
                                           ("llama64", "bf16"), ("llama64", "q8_0"), ("llama64", "q4_0")])
def test_batched_decode_matches_numpy_per_sequence(name, weights, threads):
    """Three sequences at different depths step together, each over its own
    cache (block formats: each weight read once for the three): hidden
    states, logits and argmax as three separate numpy models."""
    cfg = LLAMA64 if name == "llama64" else TINY[name]
    c, refs, positions = batch_at_depths(cfg, threads, weights=weights)
    tokens = np.array([3, 17, 29], np.int32)
    for _ in range(2):
        x = np.empty((3, cfg.d), np.float32)
        logits = np.empty((3, cfg.vocab), np.float32)
        nexts, _ = c.run(threads, True, tokens, x, 0, True, logits, np.zeros(_kernels.INFER_OPS),
                         positions=positions)
        for q, ref in enumerate(refs):
            hidden = ref.forward(ref.embed(tokens[q:q + 1], positions[q]), positions[q], True)
            close(x[q:q + 1], hidden)
            close(logits[q], ref.logits(hidden))
            assert nexts[q] == int(np.argmax(ref.logits(hidden)))
        tokens, positions = nexts, [p + 1 for p in positions]


@pytest.mark.parametrize("threads", THREADS)
def test_the_token_loop_in_c_generates_what_steps_one_by_one_do(threads):
    cfg = TINY["llama"]
    looped, _, positions = batch_at_depths(cfg, threads)
    stepped, _, _ = batch_at_depths(cfg, threads)
    tokens = np.array([3, 17, 29], np.int32)
    out, wall = looped.generate(threads, tokens, positions, 5, np.empty((3, cfg.d), np.float32),
                                np.zeros(_kernels.INFER_OPS))
    assert out.shape == (5, 3) and wall > 0
    for step in range(5):
        tokens, _ = stepped.run(threads, True, tokens, np.empty((3, cfg.d), np.float32), 0, True, None,
                                np.zeros(_kernels.INFER_OPS), positions=[p + step for p in positions])
        np.testing.assert_array_equal(out[step], tokens)


def test_a_batch_beyond_the_caches_or_positions_is_refused():
    cfg = TINY["llama"]
    c, _, _ = batch_at_depths(cfg, 1, depths=(1, 2))
    x, seconds = np.empty((3, cfg.d), np.float32), np.zeros(_kernels.INFER_OPS)
    with pytest.raises(ArgumentError):   # three sequences, two caches
        c.run(1, True, np.zeros(3, np.int32), x, 0, True, None, seconds, positions=[1, 2, 3])
    with pytest.raises(ArgumentError):   # past max_pos
        c.generate(1, np.zeros(2, np.int32), [40, 2], 10, x[:2], seconds)


def test_an_engine_keeps_the_blocking_its_weights_were_packed_with():
    """Weights packed with one GEMM blocking stay right after the host's blocking changes."""
    cfg = TINY["llama"]
    try:
        _kernels.set_gemm_blocking(16, 1)   # 32- and 48-deep products split into blocks of 16
        c, ref = build(cfg)
        _kernels.set_gemm_blocking(512, 16)
        prompt = np.random.default_rng(5).integers(0, cfg.vocab, 40).astype(np.int32)
        x = np.empty((len(prompt), cfg.d), np.float32)
        c.run(MOST, True, prompt, x, 0, False, None, np.zeros(_kernels.INFER_OPS))
        close(x, ref.forward(ref.embed(prompt, 0), 0, True))
    finally:
        _kernels.set_gemm_blocking(512, 16)


@pytest.mark.parametrize("isa", [None, "generic"])   # this CPU's best kernels, and the plain ones
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("tokens", [5, 40])   # the weights read once per pass (up to 32 tokens), or packed
@pytest.mark.parametrize("name", TINY)
def test_c_path_matches_numpy_for_a_prompt_then_decode_steps(name, tokens, threads, isa):
    cfg = TINY[name]
    decoder = cfg.mode == "decoder"
    c, ref = build(cfg, isa=isa)
    rng = np.random.default_rng(5)
    prompt = rng.integers(0, cfg.vocab, tokens).astype(np.int32)
    x = np.empty((len(prompt), cfg.d), np.float32)
    logits = np.empty(cfg.vocab, np.float32)
    seconds = np.zeros(_kernels.INFER_OPS)
    token, _ = c.run(threads, decoder, prompt, x, 0, decoder, logits if decoder else None, seconds)
    hidden = ref.forward(ref.embed(prompt, 0), 0, decoder)
    close(x, hidden)
    if not decoder:
        return
    close(logits, ref.logits(hidden))
    assert token == int(np.argmax(ref.logits(hidden)))
    for position in range(tokens, tokens + 3):   # each step attends to the cache of every earlier position
        ids = np.array([token], np.int32)
        x = np.empty((1, cfg.d), np.float32)
        token, _ = c.run(threads, True, ids, x, position, True, logits, seconds)
        hidden = ref.forward(ref.embed(ids, position), position, True)
        close(x, hidden)
        close(logits, ref.logits(hidden))
        assert token == int(np.argmax(ref.logits(hidden)))
    timed = {name for name, s in zip(op_names(cfg), seconds) if s > 0}
    want = {"embeddings", "Q projection", "K projection", "V projection", "Q·K^T", "softmax", "scores·V",
            "output projection", "residual add", "FFN up", "FFN down", "LM head"}
    assert want <= timed
    assert ("rotary" in timed, "FFN gate" in timed, "Q/K RMSNorm" in timed) == (
        cfg.rotary, cfg.gated, cfg.qk_norm)


def test_hidden_inputs_without_embeddings_match_too():
    cfg = TINY["llama"]
    c, ref = build(cfg)
    x = np.random.default_rng(0).standard_normal((3, cfg.d), dtype=np.float32)
    want = ref.forward(x.copy(), 0, True)
    c.run(MOST, True, None, x, 0, False, None, np.zeros(_kernels.INFER_OPS))
    close(x, want)


def test_wrong_shapes_and_positions_are_refused_before_c():
    cfg = TINY["gpt2"]
    c, _ = build(cfg)
    seconds = np.zeros(_kernels.INFER_OPS)
    with pytest.raises(ValueError, match="tokens x d"):
        c.run(1, True, None, np.zeros((1, cfg.d + 1), np.float32), 0, False, None, seconds)
    with pytest.raises(ValueError, match="below the vocabulary"):
        c.run(1, True, np.array([cfg.vocab], np.int32), np.zeros((1, cfg.d), np.float32), 0, True, None, seconds)
    with pytest.raises(ValueError, match="missing an array|bad"):
        c.run(1, True, None, np.zeros((1, cfg.d), np.float32), 48, False, None, seconds)   # past max_pos
    layers, top = random_weights(cfg, np.random.default_rng(0), True, True, 8)
    layers[0]["q"] = layers[0]["q"][:, :-1].copy()
    with pytest.raises(ValueError, match="q must be a contiguous float32 array"):
        engine(cfg, layers, top, 8, 8)


def test_a_measured_run_checks_its_first_layer(monkeypatch):
    import bwbench.inference as inference
    seconds, wall, stolen, tokens = run_model(TINY["gpt2"], "decoder", 4, "model", threads=MOST)
    assert set(seconds) >= {"Q projection", "LM head", "GELU"} and wall > 0 and 0 <= stolen <= 1
    assert len(tokens) == 4 and all(0 <= t < TINY["gpt2"].vocab for t in tokens)
    broken = lambda *args, **kwargs: _Broken(engine(*args, **kwargs))  # noqa: E731
    monkeypatch.setattr(inference, "engine", broken)
    with pytest.raises(ValidationError, match="first layer differs from the numpy reference"):
        run_model(TINY["gpt2"], "decoder", 4, "model", threads=MOST)


def test_an_encoder_is_timed_as_the_median_of_fresh_passes(monkeypatch):
    engines = _recorded_engines(monkeypatch)
    seconds, wall, _, tokens = run_model(TINY["bert"], "encoder", 4, "model", threads=1)
    assert tokens is None   # an encoder generates none
    inputs = engines[-1].inputs   # engines[0] checked the first layer
    assert len(inputs) == 1 + PASSES   # a warm-up, then the timed passes
    assert all(np.array_equal(x, inputs[0]) for x in inputs)   # each pass starts from the same input
    assert wall >= sum(seconds.values()) * 0.99   # the ops' seconds and the wall of one pass


def test_a_decode_is_timed_as_the_median_of_whole_decodes_from_position_0(monkeypatch):
    engines = _recorded_engines(monkeypatch)
    seconds, wall, _, generated = run_model(TINY["llama"], "decoder", 3, "model", threads=MOST)
    timed = engines[-1]
    assert timed.positions == [0] + [0, 1, 2] * PASSES   # a warm-up step, then whole decodes
    fed = [timed.tokens[1 + 3 * p:4 + 3 * p] for p in range(PASSES)]
    assert all(tokens == fed[0] for tokens in fed)   # each decode feeds back the same tokens
    assert fed[0] == [[0]] + [[t] for t in generated[:2]]   # from token 0, then what it generated
    assert wall >= sum(seconds.values()) * 0.99


def test_every_decode_of_the_layers_starts_from_the_same_inputs(monkeypatch):
    engines = _recorded_engines(monkeypatch)
    run_model(TINY["gpt2"], "decoder", 3, "layers", threads=1)
    inputs = engines[-1].inputs[1:]   # after the warm-up step
    assert len(inputs) == 3 * PASSES
    assert all(np.array_equal(inputs[3 * p + i], inputs[i]) for p in range(PASSES) for i in range(3))


def _recorded_engines(monkeypatch) -> list:
    """The engines run_model makes from now on, each a _Recording (the first checks the first layer)."""
    import bwbench.inference as inference
    engines = []

    def recording(*args, **kwargs):
        engines.append(_Recording(engine(*args, **kwargs)))
        return engines[-1]

    monkeypatch.setattr(inference, "engine", recording)
    return engines


class _Recording:
    """An engine that keeps a copy of every pass's input, token and position."""

    def __init__(self, engine):
        self.engine, self.inputs, self.tokens, self.positions = engine, [], [], []

    def run(self, threads, decoder, tokens, x, position, *rest):
        self.inputs.append(x.copy())
        self.tokens.append(None if tokens is None else tokens.tolist())
        self.positions.append(position)
        return self.engine.run(threads, decoder, tokens, x, position, *rest)


class _Broken:
    """An engine whose hidden states come out slightly wrong."""

    def __init__(self, engine):
        self.engine = engine

    def run(self, threads, decoder, tokens, x, *rest):
        result = self.engine.run(threads, decoder, tokens, x, *rest)
        x[0, 0] += 0.01
        return result


def test_builtin_decoders_name_every_timed_op_as_the_analysis_does():
    from bwbench.transformer import analyse
    for name in ("gpt2", "tinyllama-1.1b", "bert-base"):
        analysed = {op.name for op in analyse(name, 2, scope="model").ops}
        cfg = BUILTIN[name]
        names = set(op_names(cfg)) - {"embedding LayerNorm"} - ({"Q/K RMSNorm"} if not cfg.qk_norm else set())
        if not cfg.gated:
            names -= {"FFN gate", "gate multiply"}
        if not cfg.rotary:
            names -= {"rotary"}
        if cfg.mode == "encoder":
            names -= {"final LayerNorm", "LM head"}
            names.add("embedding LayerNorm")
        assert names == analysed


@pytest.mark.parametrize("weights", ["f16", "bf16", "q8_0", "q4_0"])
@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_quantised_weights_decode_as_the_numpy_reference_does(name, weights):
    cfg = LLAMA64 if name == "llama" else TINY["gpt2"]
    layers, top = random_weights(cfg, np.random.default_rng(3), True, True, 8, weights)
    assert layers[0]["q"].dtype == np.uint8 and top["lm_head"].dtype == np.uint8
    c, ref = engine(cfg, layers, top, 8, 8, weights=weights), Reference(cfg, layers, top, 8, weights)
    logits, token = np.empty(cfg.vocab, np.float32), 1
    for position in range(4):
        ids, x = np.array([token], np.int32), np.empty((1, cfg.d), np.float32)
        token, _ = c.run(MOST, True, ids, x, position, True, logits, np.zeros(_kernels.INFER_OPS))
        hidden = ref.forward(ref.embed(ids, position), position, True)
        close(x, hidden)
        close(logits, ref.logits(hidden))
    ids, x = np.array([4, 9, 2], np.int32), np.empty((3, cfg.d), np.float32)   # then a prompt of three tokens
    c.run(MOST, True, ids, x, 4, True, logits, np.zeros(_kernels.INFER_OPS))
    hidden = ref.forward(ref.embed(ids, 4), 4, True)
    close(x, hidden)
    close(logits, ref.logits(hidden))


def test_quantised_runs_are_refused_where_the_format_cannot_hold_the_rows():
    from bwbench.errors import UsageError
    with pytest.raises(UsageError, match="whole blocks of 32 weights, not 48"):
        run_model(TINY["llama"], "decoder", 2, "model", 1, weights="q4_0")
    with pytest.raises(UsageError, match="runs decoders"):
        run_model(TINY["bert"], "encoder", 2, "model", 1, weights="bf16")
