"""The closing table of a comparison script: medians of bwbench, of the
reference, and of their per-round ratios (the host is shared and noisy, so a
ratio is only taken between runs seconds apart)."""
import statistics


def print_ratios(rows: dict, rounds: int, reference: str) -> None:
    """rows: {figure name: [(bwbench, reference) per round]}."""
    print(f"\nmedians over {rounds} rounds; ratio = median of per-round bwbench/{reference}")
    print(f"{'figure':56}{'bwbench':>10}{reference:>11}{'ratio':>8}")
    for name, pairs in rows.items():
        ours, theirs = zip(*pairs)
        ratio = statistics.median(o / t for o, t in pairs)
        print(f"{name:56}{statistics.median(ours):>10.1f}{statistics.median(theirs):>11.1f}{ratio:>8.3f}")
