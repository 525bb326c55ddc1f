"""Reference engines that users compare bwbench's inference with, each behind
a small adapter: check_available(), check(cfg, mode, weights) (both refuse
before anything is measured) and run(cfg, mode, seq, threads, weights) -> the
JSON record of transformer.reference. Optional extras, never dependencies."""
from bwbench.engines import llama_cpp, pytorch

REFERENCES = {"torch": pytorch, "llama.cpp": llama_cpp}
