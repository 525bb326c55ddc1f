"""The `json-schema-reference` directive: every key of a JSON Schema (draft
2020-12) as tables, generated from the schema file at build time.

    ```{json-schema-reference} ../../bwbench/data/bwbench-1.schema.json
    ```

renders a table of the document's top-level keys, then a section per
top-level key listing every key below it by path (`machine.caches.<key>`,
`measurements[].kernel`) with its type, whether it is required and its
description. It follows `$ref` into `$defs`, `properties`, `items`,
`additionalProperties` (a map: `<key>`) and the alternatives of
`oneOf`/`anyOf`."""
import json

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from docnodes import paragraph, section, table

HEADERS = ("key", "type", "required", "description")


class JsonSchemaReference(SphinxDirective):
    required_arguments = 1   # the schema file, relative to this page

    def run(self):
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(path)
        try:
            with open(path) as f:
                schema = Schema(json.load(f))
        except (OSError, ValueError) as error:
            raise self.error(f"json-schema-reference: cannot read {path}: {error}")
        top = {key: schema.rows(node, key, key in schema.required(schema.root), ())
               for key, node in schema.root.get("properties", {}).items()}
        out = [paragraph(schema.root.get("description", "")),
               table(HEADERS, [_cells(rows[0]) for rows in top.values()], "The document's top-level keys")]
        for key, rows in top.items():
            if rows[1:]:
                part = section(self.state.document, key, ids_from=f"key {key}")
                part += [paragraph(rows[0][3]), table(HEADERS, [_cells(row) for row in rows[1:]])]
                out.append(part)
        return out


def _cells(row) -> list:
    path, kind, required, description = row
    return [nodes.literal(text=path), kind, "yes" if required else "", description]


class Schema:
    def __init__(self, root: dict):
        self.root = root

    def resolve(self, node: dict) -> dict:
        """node with its $ref followed (local references only); node's own keys
        (a more specific description) win over the target's."""
        while "$ref" in node:
            reference = node["$ref"]
            if not reference.startswith("#/"):
                raise ValueError(f"only local $ref are supported, not {reference}")
            target = self.root
            for part in reference[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    @staticmethod
    def required(node: dict) -> set:
        return set(node.get("required", ()))

    def type_text(self, node: dict) -> str:
        node = self.resolve(node)
        if "const" in node:
            return json.dumps(node["const"])
        if "enum" in node:
            return "one of " + ", ".join(v if isinstance(v, str) else json.dumps(v) for v in node["enum"])
        alternatives = node.get("oneOf", []) + node.get("anyOf", [])
        if alternatives:
            return " or ".join(self.type_text(alt) for alt in alternatives)
        types = node.get("type", "any")
        words = [f"array of {self.type_text(node['items'])}" if kind == "array" and isinstance(node.get("items"), dict)
                 else kind for kind in (types if isinstance(types, list) else [types])]
        bounds = [f"{sign} {node[key]:g}" for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"),
                                                            ("maximum", "≤"), ("exclusiveMaximum", "<"))
                  if isinstance(node.get(key), (int, float))]
        return " or ".join(words) + (f" ({', '.join(bounds)})" if bounds else "")

    def rows(self, node: dict, path: str, required: bool, expanding: tuple) -> list:
        """(path, type, required, description) of node and of every key below it.
        expanding: the $refs being expanded above, so a recursive schema ends."""
        reference = node.get("$ref")
        if reference in expanding:
            return [(path, f"see {reference}", required, node.get("description", ""))]
        expanding += (reference,) if reference else ()
        node = self.resolve(node)
        return [(path, self.type_text(node), required, node.get("description", ""))] + self._below(node, path, expanding)

    def _below(self, node: dict, path: str, expanding: tuple) -> list:
        out = []
        for alternative in node.get("oneOf", []) + node.get("anyOf", []):
            out += self.rows(alternative, path, False, expanding)[1:]
        required = self.required(node)
        for key, child in node.get("properties", {}).items():
            out += self.rows(child, f"{path}.{key}" if path else key, key in required, expanding)
        if isinstance(node.get("additionalProperties"), dict):
            out += self.rows(node["additionalProperties"], f"{path}.<{self._key_name(node)}>", False, expanding)
        if isinstance(node.get("items"), dict):   # the element's own type is in the array's row
            out += self.rows(node["items"], f"{path}[]", False, expanding)[1:]
        return out

    @staticmethod
    def _key_name(node: dict) -> str:
        """What a map's keys are: the $defs name their propertyNames refer to, else `key`."""
        reference = node.get("propertyNames", {}).get("$ref", "")
        return reference.rsplit("/", 1)[-1] if reference else "key"


def setup(app):
    app.add_directive("json-schema-reference", JsonSchemaReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
