"""Shared fixtures for the end-to-end tests: the real release binary and processes that are always
stopped, whatever the test did. Tests import helpers from the `harness` package, never from here."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from harness.servers import EpochProcess


# The make targets select tests by these markers (pytest.ini lists them with their targets).
TARGET_MARKERS = ("binary", "page", "clock", "ntp", "nts", "roughtime", "monitoring", "container", "registry", "k8s",
                  "release_pipeline", "install_from_zero", "registry_gc", "clusters", "rollout", "fuzz", "backpressure")


def pytest_collection_modifyitems(config, items):
    """Every test carries exactly one make target's marker: without one, no make target would ever
    run it; with two, two targets would."""
    for item in items:
        marks = [m for m in TARGET_MARKERS if item.get_closest_marker(m)]
        if len(marks) != 1:
            raise pytest.UsageError(f"{item.nodeid}: want one make-target marker of {TARGET_MARKERS}, found {marks}")


# A test module's marker, as every one states it: `pytestmark = pytest.mark.ntp` (or a list, first).
MODULE_MARKER = re.compile(r"^pytestmark = \[?\s*pytest\.mark\.(\w+)", re.MULTILINE)


def pytest_ignore_collect(collection_path, config):
    """`-m MARKER` imports only the test files whose module marker it selects. Every make target
    collects the whole tree and pytest imports every file before it deselects (about 2 s a target
    here, 5 s where PYTHONDONTWRITEBYTECODE keeps pytest from caching its rewritten modules): the
    imports of selenium, celpy, hypothesis and twenty more modules no target but one needs. A file
    without such a line is imported as before, and the check below still sees every collected test."""
    expression = config.getoption("markexpr")
    if not expression or not (collection_path.name.startswith("test_") and collection_path.suffix == ".py"):
        return None
    found = MODULE_MARKER.search(collection_path.read_text(errors="replace"))
    if found is None or found.group(1) not in TARGET_MARKERS:
        return None
    from _pytest.mark.expression import Expression  # what -m itself evaluates

    selected = Expression.compile(expression).evaluate(lambda name, **kwargs: name == found.group(1) and not kwargs)
    return None if selected else True


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
    """A build with the package's default traits, TLS among them: make e2e-test builds the
    ThreadSanitizer tree's (EPOCH_TLS_BINARY), plain `swift build --product epoch` is the default.
    The release binary is built without the TLS trait, as the image is: no https:// client (its
    server still speaks TLS 1.3 for NTS-KE)."""
    binary = Path(os.environ.get("EPOCH_TLS_BINARY", REPO_ROOT / ".build" / "debug" / "epoch"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `swift build --product epoch` (make e2e-test builds its own)")
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

