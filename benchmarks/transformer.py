"""Transformer inference on this CPU through bwbench's C inference path
(float32, batch 1, random weights): a BERT-Base encoder pass over 128 tokens,
one GPT-2 decode step (all 12 layers, one new token) at context 512, and one
TinyLlama-1.1B-shaped decode step (22 layers, grouped KV heads, gated FFN) at
context 32. asv times the C call; each op inside is timed by C as well."""
import numpy as np

from bwbench import _kernels, choices, formats
from bwbench.inference import engine, random_weights
from bwbench.machine import available_cpus
from bwbench.models import load_config


class _Pass:
    model, tokens, context, decoder = None, 1, 1, True
    timeout = 600

    def setup(self):
        cfg = load_config(self.model)
        layers, top = random_weights(cfg, np.random.default_rng(0), False, False, self.context)
        self.engine = engine(cfg, layers, top, self.context, self.tokens)
        self.x = np.random.default_rng(1).standard_normal((self.tokens, cfg.d), dtype=np.float32)
        self.seconds = np.zeros(_kernels.INFER_OPS)
        self.threads = available_cpus()

    def run(self):
        self.engine.run(self.threads, self.decoder, None, self.x, self.context - self.tokens, False, None,
                        self.seconds)


class BertBaseEncoder(_Pass):
    model, tokens, context, decoder = "bert-base", 128, 128, False

    def time_encoder_pass_seq128(self):
        self.run()


class Gpt2DecodeStep(_Pass):
    model, context = "gpt2", 512

    def time_decode_step_context512(self):
        self.run()


class TinyLlamaDecodeStep(_Pass):
    model, context = "tinyllama-1.1b", 32

    def time_decode_step_context32(self):
        self.run()


class TinyLlamaDecodeStepByFormat(_Pass):
    """The decode step with the linear layers' weights in each format."""
    model, context = "tinyllama-1.1b", 32
    params = list(formats.QUANTISED)
    param_names = ["weights"]

    def setup(self, weights, isa=None):
        cfg = load_config(self.model)
        layers, top = random_weights(cfg, np.random.default_rng(0), False, False, self.context, weights)
        self.engine = engine(cfg, layers, top, self.context, self.tokens, isa, weights)
        self.x = np.random.default_rng(1).standard_normal((1, cfg.d), dtype=np.float32)
        self.seconds = np.zeros(_kernels.INFER_OPS)
        self.threads = available_cpus()

    def time_decode_step_context32(self, weights):
        self.run()


class TinyLlamaDecodeStepByIsa(TinyLlamaDecodeStepByFormat):
    """The decode step on each instruction set the host has (skipped where it lacks one):
    float32 weights, and q4_0, whose GEMV has its own kernel per ISA path."""
    params = [["f32", "q4_0"], ["sse2", "avx2", "avx512"]]
    param_names = ["weights", "isa"]

    def setup(self, weights, isa):
        if isa not in choices.supported_isas():
            raise NotImplementedError(f"this CPU lacks {isa}")
        super().setup(weights, isa)

    def time_decode_step_context32(self, weights, isa):
        self.run()
