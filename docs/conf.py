"""Sphinx configuration: MyST Markdown pages, the furo theme, the API from
docstrings, and three generated parts (docs/_ext): the command-line
reference from bwbench's own parser, the JSON reference from the shipped
schema, and the results pages from the stored result files.

Build: sphinx-build -W -b html docs docs/_build/html"""
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(DOCS))        # bwbench from this checkout (built in place)
sys.path.insert(0, os.path.join(DOCS, "_ext"))

from bwbench.provenance import version as _version  # noqa: E402

project = "bwbench"
author = "the bwbench authors"
copyright = "the bwbench authors"
release = version = _version()

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon",
              "cli_reference", "schema_reference", "results_pages"]
source_suffix = {".md": "markdown"}
# _build also holds the results' figures, drawn at build time (results_pages)
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3   # [text](page.md#a-heading) links resolve
smartquotes = False        # --flags and 'quotes' stay as typed, as a shell needs them

html_theme = "furo"
html_title = f"bwbench {release}"

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
