"""A Prometheus exposition as promtool and a scraper see it: every family with HELP and TYPE, and
`promtool check metrics` clean but for named legacy families."""
from __future__ import annotations

import re
import subprocess


def families(text: str) -> dict[str, dict[str, str]]:
    """{family: {"help": ..., "type": ...}} from the HELP/TYPE comments, plus every sampled family."""
    found: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if match := re.match(r"# (HELP|TYPE) (\S+) ?(.*)", line):
            found.setdefault(match.group(2), {})[match.group(1).lower()] = match.group(3)
        elif line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            found.setdefault(base if base in found else name, {})
    return found


def promtool_check_metrics(text: str) -> list[str]:
    """promtool's lint problems, one a line (empty: clean)."""
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def check_exposition(text: str, legacy: set[str] = frozenset()) -> None:
    problems = [p for p in promtool_check_metrics(text) if p.split(" ", 1)[0] not in legacy]
    assert not problems, "promtool check metrics:\n" + "\n".join(problems)
    for name, meta in families(text).items():
        assert meta.get("help"), f"{name} has no # HELP"
        assert meta.get("type"), f"{name} has no # TYPE"
