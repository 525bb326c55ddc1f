"""Reference engines that users compare bwbench's inference with, each behind
a small adapter: check_available() and run(cfg, mode, seq, threads) -> the
JSON record of transformer.reference. Optional extras, never dependencies."""
from bwbench.engines import pytorch

REFERENCES = {"torch": pytorch}
