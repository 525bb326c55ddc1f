"""The JSON Schema of the result document (bwbench/data/bwbench-1.schema.json,
draft 2020-12): what every `--json` output holds, checked by jsonschema.
The tests validate every document they write against it; the docs render
its descriptions as the JSON reference."""
import functools
import json
from importlib import resources

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_FILE = "data/bwbench-1.schema.json"


class SchemaError(ValueError):
    """A document that does not follow the bwbench/1 schema."""


def load_schema() -> dict:
    """The schema, as shipped in the package."""
    return json.loads(resources.files("bwbench").joinpath(SCHEMA_FILE).read_text())


@functools.lru_cache(maxsize=None)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


def _path(error) -> str:
    """'measurements[0].best_s' for the path of the failing value; '(document)' for the top level."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    return text.lstrip(".") or "(document)"


def validate(document) -> None:
    """Raises SchemaError naming the path of the most relevant failing key,
    unless document (as read from JSON: string keys, lists) follows the schema."""
    error = best_match(_validator().iter_errors(document))
    if error is not None:
        raise SchemaError(f"not a valid bwbench/1 document: at {_path(error)}: {error.message}")
