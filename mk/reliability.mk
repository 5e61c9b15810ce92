# Reliability proofs (docs/reliability.md): a rolling replacement under load through nginx with zero
# dropped requests, hostile input, and a soak. The work is in Tests/e2e/{rollout,fuzz}_support.py.
.PHONY: rollout-test fuzz-test soak

SOAK_SECONDS ?= 600
SOAK_RATE    ?= 1000

TEST_TARGETS += rollout-test fuzz-test

rollout-test: release ## Replace two instances one at a time behind nginx under 25k requests: 0 errors; a SIGKILL control run must fail
	@command -v nginx >/dev/null || { echo "rollout-test: nginx is missing: run make deps (tools/apt/reliability.txt)" >&2; exit 1; }
	@echo "rollout-test: pytest Tests/e2e/test_rollout.py (nginx $$(nginx -v 2>&1 | sed 's|.*/||'), $(RELEASE_BIN))"
	@$(PYTEST) -q -s -rxX Tests/e2e/test_rollout.py

fuzz-test: release ## 12k seeded hostile requests, slowloris, half-open and 1,500 idle connections against the release binary
	@echo "fuzz-test: pytest Tests/e2e/test_fuzz.py (FUZZ_SEED=$${FUZZ_SEED:-20261125} FUZZ_CASES=$${FUZZ_CASES:-12000})"
	@$(PYTEST) -q -s -rxX Tests/e2e/test_fuzz.py

soak: release ## SOAK_SECONDS (600) of GET / at SOAK_RATE/s (1000); RSS every 10 s; fails on growth over 10 % (not in make test)
	@echo "soak: bench/soak.py --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)"
	@$(VENV)/bin/python bench/soak.py --binary $(RELEASE_BIN) --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)
