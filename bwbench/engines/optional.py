"""The reference engines' modules, imported only when a run asks for them."""
import importlib

from bwbench.errors import UsageError


def load(names, need: str) -> list:
    """The modules `names`; if one is not installed, UsageError(need): one line, exit 2."""
    try:
        return [importlib.import_module(name) for name in names]
    except ImportError:
        raise UsageError(need) from None
