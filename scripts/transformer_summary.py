"""One line per model, mode and scope at 128 tokens (fp32): totals, intensity,
predicted time on a saved roofline, and per-group GFLOPs at their intensity.

    python scripts/transformer_summary.py bwbench-results/roofline.json
"""
import sys

from bwbench import read_result
from bwbench.roofline import Roofline
from bwbench.transformer import analyse


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/transformer_summary.py ROOFLINE_JSON")
    roofline = Roofline.from_dict(read_result(sys.argv[1])["roofline"])
    print(f"{'model':11}{'mode':9}{'scope':8}{'GFLOPs':>9}{'GB':>8}{'AI':>8}{'pred ms':>9}   per group GFLOPs@AI")
    for model in ("bert-base", "bert-large", "gpt2"):
        for mode in ("encoder", "decoder"):
            for scope in ("layers", "model"):
                a = analyse(model, 128, mode, scope=scope, roofline=roofline)
                groups = "  ".join(f"{g} {op.flops / 1e9:.2f}@{op.ai:.1f}" for g, op in a.group_totals().items())
                print(f"{model:11}{mode:9}{scope:8}{a.total_flops / 1e9:9.2f}{a.total_bytes / 1e9:8.2f}"
                      f"{a.total_flops / a.total_bytes:8.2f}{a.predicted_s * 1e3:9.1f}   {groups}")


if __name__ == "__main__":
    main()
