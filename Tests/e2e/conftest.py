"""Shared fixtures for the end-to-end tests: the real release binary and processes that are always
stopped, whatever the test did. The helper functions are support.py's, re-exported here."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# The helpers live in support.py; test files import them from here as well.
from support import (  # noqa: F401  (re-exported)
    EPOCH_JSON_RE, REPO_ROOT, EpochProcess, free_port, git_short_rev, http_get, parse_json, wait_for_http,
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def release_binary() -> Path:
    """The static release binary `make release` built (make targets depend on it); EPOCH_BINARY
    points the tests at another build, e.g. the debug one while iterating."""
    binary = Path(os.environ.get("EPOCH_BINARY", REPO_ROOT / ".build" / "release" / "epoch"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make release` (make's test targets do)")
    return binary


@pytest.fixture(scope="session")
def tls_binary() -> Path:
    """A build with the package's default traits, TLS among them: `swift build --product epoch`
    (make e2e-test builds it). The release binary is built without the TLS trait, as the image is:
    no https:// client (its server still speaks TLS 1.3 for NTS-KE)."""
    binary = Path(os.environ.get("EPOCH_TLS_BINARY", REPO_ROOT / ".build" / "debug" / "epoch"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `swift build --product epoch` (make e2e-test does)")
    return binary


@pytest.fixture
def epoch_server(release_binary):
    """Starts servers on demand and always stops them: `epoch_server("--shutdown-delay", "1s")`."""
    started: list[EpochProcess] = []

    def start(*args: str, **kwargs) -> EpochProcess:
        server = EpochProcess(release_binary, *args, **kwargs)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop(signal.SIGKILL)

