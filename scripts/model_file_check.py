"""A TinyLlama-1.1B-shaped GGUF file in a Q4_K_M mix (Q4_K for the attention
and FFN matrices, Q6_K for ffn_down and the output, float32 norms and token
embeddings), written by the tests' own writer (tests/tiny_files.py) with
random weights, then measured by bwbench beside llama.cpp on that very file:

    python scripts/model_file_check.py [--out DIR] [--seq 32] [--json PATH]

runs `transformer --model DIR/tinyllama-q4_k_m.gguf --mode decoder --seq 32
--scope model --measure --reference llama.cpp` (the file is kept in DIR)."""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from bwbench import cli  # noqa: E402
from tiny_files import hf_tensors, write_gguf  # noqa: E402

# TinyLlama-1.1B's config.json
TINYLLAMA = {"model_type": "llama", "num_hidden_layers": 22, "hidden_size": 2048, "num_attention_heads": 32,
             "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000, "rms_norm_eps": 1e-5,
             "rope_theta": 10000.0, "tie_word_embeddings": False}
Q4_K_M = {**{key: "Q4_K" for key in ("q", "k", "v", "o", "gate", "up")}, "down": "Q6_K", "output": "Q6_K"}


class Lazy:
    """write_gguf's weights, made one tensor at a time as the writer asks."""

    def __init__(self, raw):
        self.raw = raw

    def items(self):
        return hf_tensors(self.raw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=tempfile.gettempdir())
    parser.add_argument("--seq", default="32")
    parser.add_argument("--json")
    args = parser.parse_args()
    raw = TINYLLAMA
    path = os.path.join(args.out, "tinyllama-q4_k_m.gguf")
    if not os.path.exists(path):
        write_gguf(path, raw, Lazy(raw), Q4_K_M)
    command = ["transformer", "--model", path, "--mode", "decoder", "--seq", args.seq, "--scope", "model",
               "--measure", "--reference", "llama.cpp"]
    return cli.main(command + (["--json", args.json] if args.json else []))


if __name__ == "__main__":
    sys.exit(main())
