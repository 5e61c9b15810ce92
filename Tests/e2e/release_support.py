"""Runs jobs of a GitHub Actions workflow locally, the way a runner would, for the release tests.

Only what release.yml uses is emulated, and anything else fails loudly instead of being skipped:
- `${{ }}` expressions: contexts (github, vars, secrets, needs, steps, env, runner, job), string,
  number and boolean literals, `==` `!=` (strings compare case-insensitively, as GitHub does),
  `&&` `||` `!` (returning operands, as GitHub does), parentheses, and the status functions
  `always()`, `success()`, `failure()`;
- `run:` steps with bash (`bash --noprofile --norc -eo pipefail`, GitHub's bash), step and job `env:`,
  `$GITHUB_ENV`, `$GITHUB_OUTPUT` (KEY=VALUE and KEY<<DELIMITER forms), `steps.<id>.outputs`,
  job `outputs:`, step `if:`;
- `uses:` steps are not run: the caller lists which actions it accepts to skip (actions/checkout, whose
  work is done by running in the repository) and is told about any other one.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.certificates import make_ca_pem


def load_workflow(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in doc and "on" not in doc:
        doc["on"] = doc.pop(True)
    return doc


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------
class ExpressionError(Exception):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|&&|\|\||!|\(|\)|\.|\[|\]|,)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot read expression {text!r} at {text[pos:]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if a is None or b is None:
        return (a if a is not None else "") == (b if b is not None else "")
    return a == b


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(self, text: str, contexts: dict, status: dict):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.contexts = contexts
        self.status = status

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExpressionError(f"expected {value or 'more'} in {self.text!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_expr()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return value

    def or_expr(self) -> Any:
        value = self.and_expr()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_expr()
            value = value if _truthy(value) else right
        return value

    def and_expr(self) -> Any:
        value = self.cmp_expr()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.cmp_expr()
            value = right if _truthy(value) else value
        return value

    def cmp_expr(self) -> Any:
        value = self.unary()
        tok = self.peek()
        if tok in (("op", "=="), ("op", "!=")):
            self.take()
            right = self.unary()
            same = _equal(value, right)
            return same if tok[1] == "==" else not same
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if (kind, text) == ("op", "("):
            value = self.or_expr()
            self.take(")")
            return value
        if kind != "ident":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            self.take(")")
            if text == "always":
                return True
            if text == "success":
                return not self.status.get("failed", False)
            if text == "failure":
                return self.status.get("failed", False)
            raise ExpressionError(f"function {text}() is not emulated (in {self.text!r})")
        if text not in self.contexts:
            raise ExpressionError(f"context {text!r} is not emulated (in {self.text!r})")
        value = self.contexts[text]
        while self.peek() in (("op", "."), ("op", "[")):
            _, op = self.take()
            if op == ".":
                _, key = self.take()
            else:
                kind, key = self.take()
                if kind != "str":
                    raise ExpressionError(f"only string indexes are emulated (in {self.text!r})")
                key = key[1:-1]
                self.take("]")
            value = value.get(key) if isinstance(value, dict) else None
        return value


def evaluate(expression: str, contexts: dict, status: dict | None = None) -> Any:
    return _Parser(expression, contexts, status or {}).parse()


_INTERPOLATION = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)


def interpolate(value: Any, contexts: dict, status: dict | None = None) -> Any:
    """A YAML value with `${{ }}` inside: a lone expression keeps its type, text is substituted."""
    if not isinstance(value, str):
        return value
    whole = _INTERPOLATION.fullmatch(value.strip())
    if whole:
        return evaluate(whole.group(1), contexts, status)
    return _INTERPOLATION.sub(lambda m: to_text(evaluate(m.group(1), contexts, status)), value)


def condition(value: Any, contexts: dict, status: dict) -> bool:
    """A job or step `if:` (a bare expression, or one in `${{ }}`); no `if:` means success()."""
    if value is None:
        return not status.get("failed", False)
    if isinstance(value, bool):
        return value
    text = value.strip()
    whole = _INTERPOLATION.fullmatch(text)
    return _truthy(evaluate(whole.group(1) if whole else text, contexts, status))


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------
def _read_env_file(path: Path) -> dict[str, str]:
    """$GITHUB_ENV / $GITHUB_OUTPUT: KEY=VALUE lines and KEY<<DELIMITER blocks."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"{path.name}: no closing {delimiter!r} for {key}")
            i += 1
            values[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
        else:
            raise ValueError(f"{path.name}: cannot read line {line!r}")
    return values


@dataclass
class StepResult:
    name: str
    ran: bool
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    env_written: dict = field(default_factory=dict)
    outputs_written: dict = field(default_factory=dict)


@dataclass
class JobResult:
    steps: list[StepResult]
    outputs: dict
    failed: bool

    def output_text(self) -> str:
        return "\n".join(s.stdout + "\n" + s.stderr for s in self.steps)


def run_job(
    job: dict,
    *,
    contexts: dict,
    base_env: dict[str, str],
    cwd: Path,
    scratch: Path,
    skip_uses: tuple[str, ...] = (),
    only_steps: set[str] | None = None,
    fake_step_outputs: dict[str, dict] | None = None,
    timeout: float = 300,
) -> JobResult:
    """Runs a job's run: steps in order; `contexts` must hold github, vars, secrets, needs, runner.

    only_steps: run only the steps with these ids (the others are neither run nor emulated);
    fake_step_outputs: outputs of steps that are not run (e.g. the digest of a build step).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    steps_ctx: dict[str, dict] = {k: {"outputs": dict(v)} for k, v in (fake_step_outputs or {}).items()}
    ctx = dict(contexts)
    ctx["steps"] = steps_ctx
    ctx.setdefault("job", {"status": "success"})
    status = {"failed": False}
    env: dict[str, str] = dict(base_env)
    ctx["env"] = dict(env)
    for key, value in (job.get("env") or {}).items():
        env[key] = to_text(interpolate(value, ctx, status))
    ctx["env"] = dict(env)
    results: list[StepResult] = []
    shell_default = ((job.get("defaults") or {}).get("run") or {}).get("shell", "bash")
    for index, step in enumerate(job.get("steps") or []):
        step_id = step.get("id") or f"__step{index}"
        name = step.get("name") or step.get("uses") or step_id
        if only_steps is not None and step.get("id") not in only_steps:
            continue
        if "uses" in step:
            action = step["uses"].split("@", 1)[0]
            if action not in skip_uses:
                raise AssertionError(f"step {name!r} uses {action}, which this test cannot emulate")
            results.append(StepResult(name=name, ran=False))
            continue
        if not condition(step.get("if"), ctx, status):
            results.append(StepResult(name=name, ran=False))
            continue
        shell = step.get("shell", shell_default)
        if shell != "bash":
            raise AssertionError(f"step {name!r}: shell {shell!r} is not emulated")
        step_env = dict(env)
        for key, value in (step.get("env") or {}).items():
            step_env[key] = to_text(interpolate(value, ctx, status))
        script = interpolate(step["run"], ctx, status)
        env_file = scratch / f"env.{index}"
        out_file = scratch / f"output.{index}"
        script_file = scratch / f"step.{index}.sh"
        for f in (env_file, out_file):
            f.write_text("")
        script_file.write_text(script)
        step_env.update(GITHUB_ENV=str(env_file), GITHUB_OUTPUT=str(out_file))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=cwd,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        written_env = _read_env_file(env_file)
        written_outputs = _read_env_file(out_file)
        results.append(
            StepResult(
                name=name,
                ran=True,
                returncode=proc.returncode,
                stdout=proc.stdout,
                stderr=proc.stderr,
                env_written=written_env,
                outputs_written=written_outputs,
            )
        )
        env.update(written_env)
        ctx["env"] = dict(env)
        steps_ctx[step_id] = {"outputs": written_outputs}
        if proc.returncode != 0:
            status["failed"] = True
            ctx["job"] = {"status": "failure"}
    outputs = {}
    if not status["failed"]:
        secret_values = [v for v in (ctx.get("secrets") or {}).values() if v]
        for key, value in (job.get("outputs") or {}).items():
            text = to_text(interpolate(value, ctx, status))
            # The runner drops (empties) a job output that contains a secret's value.
            outputs[key] = "" if any(v in text for v in secret_values) else text
    return JobResult(steps=results, outputs=outputs, failed=status["failed"])


# --------------------------------------------------------------------------------------------
# A kubectl that records what it is asked to do
# --------------------------------------------------------------------------------------------
FAKE_KUBECTL = r'''#!/usr/bin/env python3
"""Fake kubectl for the release tests: records every call (arguments, KUBECONFIG, a hash of the
token in that kubeconfig, never the token itself) as one JSON line in $FAKE_KUBECTL_LOG."""
import hashlib, json, os, stat, sys

args = sys.argv[1:]
record = {"args": args, "kubeconfig": os.environ.get("KUBECONFIG", "")}
path = record["kubeconfig"]
if path and os.path.isfile(path):
    text = open(path).read()
    record["kubeconfig_mode"] = oct(stat.S_IMODE(os.stat(path).st_mode))
    tokens = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("token:"):
            tokens.append(s.split(":", 1)[1].strip().strip('"').strip("'"))
    record["token_sha256"] = [hashlib.sha256(t.encode()).hexdigest() for t in tokens]
    record["namespaces"] = [l.split(":", 1)[1].strip().strip('"')
                            for l in text.splitlines() if l.strip().startswith("namespace:")]
if "apply" in args and "-f" in args:  # what the applied file holds: its kinds and images
    text = open(args[args.index("-f") + 1]).read()
    record["applied_kinds"] = [l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("kind: ")]
    record["applied_images"] = [l.split(":", 1)[1].strip() for l in text.splitlines() if l.strip().startswith("image: ")]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(record) + "\n")

rest, i = [], 0
while i < len(args):  # drop the namespace flag in any form, and other flags
    a = args[i]
    if a in ("-n", "--namespace"):
        i += 2
        continue
    if not a.startswith("-"):
        rest.append(a)
    i += 1
if rest[:1] == ["kustomize"]:  # rendering is local: the real kubectl does it
    os.execv(os.environ["REAL_KUBECTL"], [os.environ["REAL_KUBECTL"]] + args)
if rest[:1] == ["get"]:
    print(os.environ.get("FAKE_RUNNING", ""), end="")
    sys.exit(0)
if rest[:1] == ["apply"]:
    print(f"deployment.apps applied (fake)")
    sys.exit(0)
if rest[:1] == ["version"]:
    if "json" in args or "-ojson" in args:
        print(json.dumps({"clientVersion": {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake"}}, indent=2))
    else:
        print("Client Version: v1.33.0-fake")
    sys.exit(0)
if rest[:2] == ["config", "current-context"]:
    for line in (open(path).read().splitlines() if path and os.path.isfile(path) else []):
        if line.startswith("current-context:"):
            print(line.split(":", 1)[1].strip().strip('"'))
            sys.exit(0)
    print("error: current-context is not set (fake)", file=sys.stderr)
    sys.exit(1)
if rest[:2] == ["set", "image"]:
    print(f"{rest[2] if len(rest) > 2 else 'deployment'} image updated (fake)")
    sys.exit(0)
if rest[:2] == ["rollout", "status"]:
    rc = int(os.environ.get("FAKE_ROLLOUT_RC", "0"))
    if rc:
        print("error: timed out waiting for the condition (fake)", file=sys.stderr)
    else:
        print(f'{rest[2] if len(rest) > 2 else "deployment"} successfully rolled out (fake)')
    sys.exit(rc)
sys.exit(0)
'''


def install_fake_kubectl(bindir: Path) -> Path:
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / "kubectl"
    path.write_text(FAKE_KUBECTL)
    path.chmod(0o755)
    return path


def read_kubectl_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split_namespace(args: list[str]) -> tuple[str | None, list[str]]:
    """(namespace, the other arguments) of a kubectl call, whichever namespace flag form it used."""
    namespace, rest, i = None, [], 0
    while i < len(args):
        a = args[i]
        if a in ("-n", "--namespace") and i + 1 < len(args):
            namespace = args[i + 1]
            i += 2
            continue
        if a.startswith("--namespace="):
            namespace = a.split("=", 1)[1]
        elif a.startswith("-n") and len(a) > 2 and not a.startswith("--"):
            namespace = a[2:].lstrip("=")
        else:
            rest.append(a)
        i += 1
    return namespace, rest


def make_ca_b64(workdir: Path) -> str:
    """A real self-signed certificate, base64-encoded PEM, as KUBE_CA carries it."""
    return base64.b64encode(make_ca_pem()).decode()


def clean_env(extra_path: list[Path]) -> dict[str, str]:
    """The environment of a fresh runner: this machine's PATH and HOME, none of make's or kube's variables."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    keep["PATH"] = os.pathsep.join([str(p) for p in extra_path] + [keep.get("PATH", "/usr/bin:/bin")])
    keep["CI"] = "true"
    keep["GITHUB_ACTIONS"] = "true"
    return keep
