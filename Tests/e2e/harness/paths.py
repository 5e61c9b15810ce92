"""The repository root: the one definition every test, harness module and bench script uses."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
