"""What the API server does with a custom resource beyond its structural schema: it applies the
schema's defaults, then evaluates every `x-kubernetes-validations` CEL rule with `self` bound to the
value at that node (apiextensions-apiserver). Here with cel-python (the API server runs cel-go), over
the JSON schemas of Tests/e2e/schemas, which carry the upstream CRDs' rules.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterator

import celpy

_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def _resolve(root: dict, schema: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **merged}
    return schema


def _branch(root: dict, schema: dict, value: Any) -> dict:
    """The oneOf branch for an object: the one whose `kind` const matches."""
    for option in schema.get("oneOf", []):
        option = _resolve(root, option)
        if option.get("properties", {}).get("kind", {}).get("const") == (value or {}).get("kind"):
            return option
    return schema


def with_defaults(root: dict, schema: dict, value: Any) -> Any:
    """A copy of value with the schema's defaults filled in where a field is absent."""
    schema = _branch(root, _resolve(root, schema), value)
    if isinstance(value, dict):
        out = dict(value)
        for name, sub in schema.get("properties", {}).items():
            sub = _resolve(root, sub)
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = with_defaults(root, sub, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [with_defaults(root, schema["items"], v) for v in value]
    return value


def _rules(root: dict, schema: dict, value: Any, path: str) -> Iterator[tuple[str, dict, Any]]:
    schema = _branch(root, _resolve(root, schema), value)
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule, value
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _rules(root, sub, value[name], f"{path}.{name}")
    elif isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            yield from _rules(root, schema["items"], v, f"{path}[{i}]")


def cel_errors(root: dict, doc: dict) -> list[str]:
    """`<path>: <message>` for every rule that is not true of the defaulted object (an error while
    evaluating counts as a failure, as the API server reports it)."""
    doc = with_defaults(root, root, json.loads(json.dumps(doc)))
    errors = []
    for path, rule, value in _rules(root, root, doc, "self"):
        program = _PROGRAMS.get(rule["rule"])
        if program is None:
            program = _PROGRAMS[rule["rule"]] = _ENV.program(_ENV.compile(rule["rule"]))
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
            ok = isinstance(result, celpy.celtypes.BoolType) and bool(result)
        except Exception as error:  # noqa: BLE001 - any evaluation error is a refusal
            ok, rule = False, dict(rule, message=f"{rule['message']} (evaluation error: {error})")
        if not ok:
            errors.append(f"{path}: {rule['message']}")
    return errors


def rule_count(root: dict) -> int:
    """How many CEL rules the schema carries (a test asserts they are really there)."""
    return sum(len(node.get("x-kubernetes-validations", [])) for node in _walk(root))


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
