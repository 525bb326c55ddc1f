"""Transformer inference on this CPU with bwbench's kernels (float32, batch 1):
one BERT-Base encoder layer at sequence 512 and one GPT-2 decode step (all 12
layers, one new token) at context 512. asv times the call; the layer runs
through Python as `bwbench transformer --measure` runs it."""
import numpy as np

from bwbench.inference import Run, decoder_layer, encoder_layer, layer_weights
from bwbench.machine import available_cpus
from bwbench.models import load_config

CONTEXT = 512


class BertBaseLayer:
    def setup(self):
        self.cfg = load_config("bert-base")
        rng = np.random.default_rng(0)
        self.weights = layer_weights(self.cfg, rng)
        self.x = rng.standard_normal((CONTEXT, self.cfg.d), dtype=np.float32)
        self.run = Run(available_cpus())

    def time_encoder_layer_seq512(self):
        encoder_layer(self.run, self.weights, self.x, self.cfg)


class Gpt2DecodeStep:
    def setup(self):
        self.cfg = load_config("gpt2")
        rng = np.random.default_rng(0)
        self.layers = [layer_weights(self.cfg, rng, out_by_in=True) for _ in range(self.cfg.layers)]
        shape = (self.cfg.kv_heads, CONTEXT, self.cfg.d_head)
        self.caches = [(rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32))
                       for _ in self.layers]
        self.x = rng.standard_normal(self.cfg.d, dtype=np.float32)
        self.run = Run(available_cpus())

    def time_decode_step_context512(self):
        x = self.x
        for weights, (keys, values) in zip(self.layers, self.caches):
            x = decoder_layer(self.run, weights, x, keys, values, CONTEXT - 1, self.cfg)
