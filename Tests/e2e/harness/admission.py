"""Evaluates a ValidatingAdmissionPolicy's CEL (matchConditions, variables, validations) the way
the API server orders them, with cel-python (celpy, tools/pip/admission.txt)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import celpy


@dataclass
class Verdict:
    matched: bool  # the matchConditions selected the request
    refused: list[str]  # the messages of the validations that failed (or errored)

    @property
    def admitted(self) -> bool:
        return not self.refused


class PolicyEvaluator:
    def __init__(self, policy: dict):
        self.env = celpy.Environment()
        spec = policy["spec"]
        self.conditions = [self._compile(c["expression"]) for c in spec.get("matchConditions", [])]
        self.variables = [(v["name"], self._compile(v["expression"])) for v in spec.get("variables", [])]
        self.validations = [(v["message"], self._compile(v["expression"])) for v in spec["validations"]]

    def _compile(self, expression: str):
        return self.env.program(self.env.compile(expression))

    def evaluate(self, old: dict, new: dict, username: str, namespace: str) -> Verdict:
        request = {"userInfo": {"username": username}, "namespace": namespace, "operation": "UPDATE"}
        activation = {"object": new, "oldObject": old, "request": request}
        base = {k: celpy.json_to_cel(json.loads(json.dumps(v))) for k, v in activation.items()}
        if not all(self._true(c, base) for c in self.conditions):
            return Verdict(matched=False, refused=[])
        variables = {}
        for name, program in self.variables:
            variables[name] = program.evaluate({**base, "variables": celpy.celtypes.MapType(
                {celpy.celtypes.StringType(k): v for k, v in variables.items()})})
        full = {**base, "variables": celpy.celtypes.MapType({celpy.celtypes.StringType(k): v for k, v in variables.items()})}
        refused = [message for message, program in self.validations if not self._true(program, full)]
        return Verdict(matched=True, refused=refused)

    @staticmethod
    def _true(program, activation) -> bool:
        result = program.evaluate(activation)
        return isinstance(result, celpy.celtypes.BoolType) and bool(result)
