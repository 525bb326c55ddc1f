"""The bwbench/1 JSON Schema: itself valid, every property described, a
document the code writes passes it, a missing required key or a wrong type
fails it with the failing key's path, and the test suite's hook validates
every document written (conftest.schema_checked_results)."""
import copy
import json
import re

import pytest
from jsonschema import Draft202012Validator

from bwbench import write_result
from bwbench.machine import machine_info
from bwbench.measure import Measurement
from bwbench.provenance import provenance
from bwbench.roofline import Roofline
from bwbench.schema import SchemaError, load_schema, validate

MEASUREMENT = Measurement("triad", "regular", "avx2", "float64", 1, 24576, 245760, 327680, 20480, 10,
                          samples_s=(2e-5,) + (1e-5,) * 9, cpus=(0,), level="L1d")
ROOFLINE = Roofline(({"level": "L1", "gbps": 200.0, "kernel": "copy", "points": 3},
                     {"level": "DRAM", "gbps": 20.0, "kernel": "triad", "points": 2}),
                    ({"name": "fma-avx2", "dtype": "float64", "gflops": 100.0, "threads": 1},), 1)


@pytest.fixture(scope="module")
def document() -> dict:
    """A roofline document as write_result builds it, read back as JSON."""
    return json.loads(json.dumps({"schema": "bwbench/1", "machine": machine_info(), "provenance": provenance(),
                                  "measurements": [MEASUREMENT.to_dict()], "roofline": ROOFLINE.to_dict()}))


def copy_at(document: dict, path: tuple) -> tuple:
    """(a deep copy of document, the container in it holding path's last key, that key)."""
    changed = copy.deepcopy(document)
    *parents, key = path
    target = changed
    for part in parents:
        target = target[part]
    return changed, target, key


def without(document: dict, path: tuple) -> dict:
    changed, target, key = copy_at(document, path)
    del target[key]
    return changed


def changed_to(document: dict, path: tuple, value) -> dict:
    changed, target, key = copy_at(document, path)
    target[key] = value
    return changed


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(load_schema())


def undescribed(node, definitions: dict, where="schema") -> list:
    """Paths of the properties under node that have no description (nor a $ref to a described definition)."""
    missing = []
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            target = definitions[prop["$ref"].split("/")[-1]] if "$ref" in prop else {}
            if "description" not in prop and "description" not in target:
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            missing += undescribed(value, definitions, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            missing += undescribed(value, definitions, f"{where}[{i}]")
    return missing


def test_every_property_has_a_description():
    """The docs render these as the JSON reference."""
    schema = load_schema()
    assert undescribed(schema, schema["$defs"]) == []


def test_a_document_as_written_passes(document):
    validate(document)


def test_unknown_keys_are_welcome_where_commands_add_them(document):
    extended = changed_to(document, ("new_section",), {"anything": 1})
    extended["provenance"]["tuning"] = {"variant": "x"}
    extended["roofline"]["extra_ceilings"] = []
    validate(extended)


@pytest.mark.parametrize("path", [("schema",), ("machine",), ("provenance",), ("measurements",)])
def test_a_missing_top_level_key_fails(document, path):
    with pytest.raises(SchemaError, match=re.escape(f"at (document): '{path[0]}' is a required property")):
        validate(without(document, path))


@pytest.mark.parametrize("key", list(MEASUREMENT.to_dict()))
def test_every_key_a_measurement_is_written_with_is_required(document, key):
    with pytest.raises(SchemaError, match=re.escape(f"at measurements[0]: '{key}' is a required property")):
        validate(without(document, ("measurements", 0, key)))


@pytest.mark.parametrize("path", [
    ("roofline", "memory_ceilings", 1, "level"), ("roofline", "memory_ceilings", 0, "gbps"),
    ("roofline", "compute_ceilings", 0, "name"), ("roofline", "compute_ceilings", 0, "dtype"),
    ("roofline", "compute_ceilings", 0, "gflops"), ("roofline", "threads"), ("machine", "isa"),
    ("provenance", "date")])
def test_a_missing_ceiling_machine_or_provenance_key_fails(document, path):
    with pytest.raises(SchemaError, match=f"'{path[-1]}' is a required property"):
        validate(without(document, path))


@pytest.mark.parametrize("path, value, where", [
    (("schema",), "bwbench/2", "schema"),
    (("measurements", 0, "gbps"), "12.5", "measurements[0].gbps"),
    (("measurements", 0, "threads"), 1.5, "measurements[0].threads"),
    (("measurements", 0, "surprise"), 1, "measurements[0]"),
    (("roofline", "memory_ceilings", 0, "level"), "L1d", "roofline.memory_ceilings[0].level"),
    (("roofline", "compute_ceilings", 0, "gflops"), None, "roofline.compute_ceilings[0].gflops"),
    (("machine", "cores"), "2", "machine.cores"),
    (("provenance", "boost"), "yes", "provenance.boost"),
    (("measurements",), {}, "measurements")])
def test_a_wrong_value_fails_naming_its_path(document, path, value, where):
    with pytest.raises(SchemaError, match=re.escape(f"at {where}: ")):
        validate(changed_to(document, path, value))


def test_the_suite_validates_every_document_written(tmp_path):
    """conftest's hook is active: a document the schema refuses is not written."""
    path = tmp_path / "bad.json"
    with pytest.raises(SchemaError, match="machine"):
        write_result(str(path), {"cpu": "no other key"}, [MEASUREMENT])
    assert list(tmp_path.iterdir()) == []


def test_the_sections_no_other_test_writes_pass_too(tmp_path, monkeypatch):
    """roofline with --models and --interconnect (ceilings from a tiny run, replaced by a synthetic
    roofline so the models can be placed), transformer with --tensor-parallel, a quantised gemv:
    each written through the command line, so conftest's hook validates it."""
    from test_cli import tiny_plan
    from test_interconnect import LINK
    from test_transformer import synthetic_roofline

    from bwbench import cli, read_result

    link, roofline = tmp_path / "link.json", tmp_path / "roofline" / "roofline.json"
    write_result(str(link), machine_info(), [], interconnect=LINK)
    monkeypatch.setattr(cli, "roofline_plan", tiny_plan)
    r = synthetic_roofline()
    placed = Roofline(tuple({**c, "kernel": "copy", "points": 1} for c in r.memory_ceilings), r.compute_ceilings, 1,
                      extra=r.extra)
    monkeypatch.setattr(cli, "build_roofline", lambda measurements, threads: placed)
    assert cli.main(["roofline", "--threads", "1", "--out", str(roofline.parent), "--models", "bert-base,gpt2",
                     "--seq", "4", "--interconnect", str(link)]) == 0
    document = read_result(str(roofline))
    assert {p["group"] for p in document["overlay"]} >= {"attention", "step"} and document["interconnect"] == LINK
    split = tmp_path / "split.json"
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "4", "--roofline", str(roofline),
                     "--tensor-parallel", "2", "--interconnect", str(link), "--json", str(split)]) == 0
    assert read_result(str(split))["tensor_parallel"]["ranks"] == 2
    gemv = tmp_path / "gemv.json"
    assert cli.main(["gemv", "--dtype", "q4_0", "--shape", "64x64", "--threads", "1", "--json", str(gemv)]) == 0
    assert [m.variant for m in read_result(str(gemv))["measurements"]] == ["q4_0"]
