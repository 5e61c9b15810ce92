# The hot path's bounds with the release binary: the pipelining flood (RSS within idle + 32 MiB, a
# normal client answered, the server alive, and its control without backpressure), the connection
# cap and the default thread count under taskset (Tests/e2e/service/test_backpressure.py, ~1 min).
.PHONY: backpressure-test

backpressure-test: release ## Flood, connection-cap and thread-count e2e tests of the release binary (pytest -m backpressure)
	@echo "==> pytest -m backpressure Tests/e2e against $(RELEASE_BIN)"
	@$(PYTEST) -q -m backpressure Tests/e2e

TEST_TARGETS += backpressure-test
