"""A model split over P ranks, Megatron-style (Shoeybi et al., "Megatron-LM",
2019), predicted from the single-rank analysis and a measured all-reduce curve.

Each rank holds 1/P of every weight matrix: Q, K, V and FFN up (and gate)
split by columns, so each rank owns heads/P heads and d_ff/P hidden units and
runs attention, softmax, the activation, gating, rotary and Q/K norms on those
alone; the output projection and FFN down split by rows. Their partial
outputs are summed by two all-reduces of the d-vector of every token per
layer, in float32 (the activations' type whatever the weights' format). LayerNorm, residual adds, embeddings and the LM head
(whose vocabulary split needs a gather not modelled here) are replicated.

Per-rank memory time = each split op's predicted time / P + each replicated
op's whole; the roofline given should be one rank's share of the host
(on one host with P ranks: measured with cores / P threads)."""
from bwbench.errors import UsageError
from bwbench.link import curve_seconds, load_interconnect, rows_of
from bwbench.models import load_config

SPLIT_GROUPS = ("projection", "attention", "ffn")
# element-wise ops on a rank's own heads or hidden units (the Llama family's too)
SPLIT_OPS = ("softmax", "GELU", "SiLU", "gate multiply", "rotary", "Q/K LayerNorm", "Q/K RMSNorm")
ACTIVATION_BYTES = 4   # float32
ALLREDUCES_PER_LAYER = 2


def is_split(op) -> bool:
    return op.group in SPLIT_GROUPS or op.name in SPLIT_OPS


def memory_seconds(analysis, ranks: int) -> float:
    """One rank's predicted time for its share of every op."""
    return sum(op.predicted_s / ranks if is_split(op) else op.predicted_s for op in analysis.ops)


def allreduce_messages(analysis) -> list:
    """(bytes, count) of the all-reduces of the whole run: per pass, two per
    layer of batch x tokens x d float32 values (an encoder's one pass of seq
    tokens; a decoder's prompt, then one token per step)."""
    cfg = load_config(analysis.model)
    per_pass = ALLREDUCES_PER_LAYER * cfg.layers
    vector = analysis.batch * cfg.d * ACTIVATION_BYTES
    if analysis.mode == "encoder":
        return [(vector * analysis.seq, per_pass)]
    return ([(vector * analysis.prompt, per_pass)] if analysis.prompt else []) + [(vector, per_pass * analysis.seq)]


def check_link(link: dict, ranks: int) -> list:
    """The all-reduce rows of a link measured over `ranks` ranks."""
    if ranks < 2:
        raise UsageError(f"invalid --tensor-parallel {ranks}: split over at least 2 ranks")
    if link["ranks"] != ranks:
        raise UsageError(f"--tensor-parallel {ranks} needs an all-reduce curve over {ranks} ranks; the "
                         f"interconnect result has {link['ranks']} (mpiexec -n {ranks} ... interconnect)")
    rows = rows_of(link, "allreduce")
    if not rows:
        raise UsageError("the interconnect result has no allreduce rows (run it with --tests allreduce)")
    return rows


def predict(analysis, ranks: int, link: dict) -> dict:
    """The split's per-rank memory time, all-reduce time and total (seconds,
    over the whole analysed run), with each all-reduce size and its time read
    off the measured curve; the JSON's `tensor_parallel` object."""
    rows = check_link(link, ranks)
    messages = [{"bytes": size, "count": count, "us_each": curve_seconds(rows, size) * 1e6}
                for size, count in allreduce_messages(analysis)]
    memory = memory_seconds(analysis, ranks)
    communication = sum(m["count"] * m["us_each"] * 1e-6 for m in messages)
    hosts = sorted({p["host"] for p in link.get("placement", [])})
    return {"ranks": ranks, "hosts": hosts, "library": link.get("library"), "single_rank_s": analysis.predicted_s,
            "memory_s": memory, "allreduces": messages, "allreduce_s": communication,
            "total_s": memory + communication, "speedup": analysis.predicted_s / (memory + communication)}


def from_args(args, analysis) -> dict:
    """The `transformer --tensor-parallel P --interconnect PATH` prediction, or None without the flag."""
    if args.tensor_parallel is None:
        return None
    return predict(analysis, args.tensor_parallel, load_interconnect(args.interconnect))


def check_args(args) -> None:
    """Refuses a half-given split before anything is measured."""
    if (args.tensor_parallel is None) != (args.interconnect is None):
        raise UsageError("--tensor-parallel P and --interconnect PATH go together")
    if args.tensor_parallel is not None:
        check_link(load_interconnect(args.interconnect), args.tensor_parallel)
