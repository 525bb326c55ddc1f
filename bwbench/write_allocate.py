"""Is write-allocate happening here? A measured answer per level below L1.

A store that misses the cache may first read its line (write-allocate, an
RFO), or write the whole line without reading it. Two kernels tell them
apart at each level: store-only (a[i] = s) and update in place (a[i] = a[i]:
each line read, then written back). With write-allocate both move a line in
and a line out per line stored, so they store at the same rate (ratio ~1);
without it store-only moves half of that (ratio ~2). At DRAM, non-temporal
store-only (never allocates) is measured beside regular store-only as a
second witness. The finding chooses how the read-write roof counts bytes
(bwbench.ceilings)."""
from bwbench.mixes import STORE_ONLY, UPDATE, level_sizes, measure_mix, roof_level

THRESHOLD = 1.5   # store-only / update stored-byte rate: under it, stores read their lines first
LEVELS = ("L2", "L3", "DRAM")   # in L1 the stored lines are already there


def plan(threads: int, dram_size: int = None) -> list:
    """(description, thunk) for the finding's measurements at every level below L1."""
    sizes = {level: size for level, size in level_sizes(threads, 1).items() if level in LEVELS}
    if dram_size:
        sizes["DRAM"] = dram_size
    steps = []
    for level, size in sizes.items():
        kinds = [(STORE_ONLY, "regular"), (UPDATE, "regular")] + ([(STORE_ONLY, "nt")] if level == "DRAM" else [])
        steps += [(f"write-allocate {mix.name} {variant} {level}",
                   lambda mix=mix, variant=variant, size=size: measure_mix(mix, variant, threads, size))
                  for mix, variant in kinds]
    return steps


def _stored_gbps(m) -> float:
    """GB/s of bytes stored (the update kernel moves two bytes for each one it stores)."""
    return m.gbps / (2 if m.kernel == "mix update" else 1)


def finding(measurements) -> dict:
    """{level: {store_gbps, update_gbps, ratio, write_allocate[, nt_store_gbps, nt_over_regular]}} for each
    level with both kernels measured; levels not resolved (partly cached) are left out."""
    found = {}
    for level in LEVELS:
        rates = {(m.kernel, m.variant): _stored_gbps(m) for m in measurements
                 if roof_level(m) == level and m.kernel in ("mix 0:1", "mix update")}
        store, update = rates.get(("mix 0:1", "regular")), rates.get(("mix update", "regular"))
        if store is None or update is None:
            continue
        entry = {"store_gbps": store, "update_gbps": update, "ratio": store / update,
                 "write_allocate": store / update < THRESHOLD}
        if ("mix 0:1", "nt") in rates:
            entry.update(nt_store_gbps=rates["mix 0:1", "nt"], nt_over_regular=rates["mix 0:1", "nt"] / store)
        found[level] = entry
    return found
