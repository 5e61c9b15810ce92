# Roughtime (RFC 10049, docs/roughtime.md): interoperability of the release binary with roughly, an
# independent implementation from PyPI (tools/pip/roughtime.txt, in .venv-roughtime/: it needs
# Python >= 3.12), and a one-core benchmark that is not part of `make test`.
.PHONY: roughtime-test bench-roughtime

ROUGHTIME_VENV := $(CURDIR)/.venv-roughtime

TEST_TARGETS += roughtime-test

roughtime-test: release ## Our Roughtime server answers roughly's client (never while unsynchronized) and our client verifies roughly's server (versions 1 and 0x8000000c), with failing controls
	@test -x $(ROUGHTIME_VENV)/bin/roughly || { echo "roughtime-test: $(ROUGHTIME_VENV)/bin/roughly is missing (make deps makes it)" >&2; exit 1; }
	@echo "==> pytest -m roughtime Tests/e2e: $(RELEASE_BIN) against roughly $$($(ROUGHTIME_VENV)/bin/pip show roughly 2>/dev/null | sed -n 's/^Version: //p')"
	@$(PYTEST) -q -m roughtime Tests/e2e

bench-roughtime: release ## Roughtime on one pinned core: requests/s and signatures/s, one request at a time and in bursts -> out/bench-roughtime.md
	@$(HARNESS_PYTHONPATH) bench/roughtime
