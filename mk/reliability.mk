# Reliability proofs (docs/reliability.md): a rolling replacement under load through nginx with zero
# dropped requests, hostile input, and a soak. The work is in Tests/e2e/harness/{rollout,nginx,load,fuzz}.py.
.PHONY: rollout-test fuzz-test soak soak-test

SOAK_SECONDS ?= 600
SOAK_RATE    ?= 1000

TEST_TARGETS += rollout-test fuzz-test soak-test

rollout-test: release ## Replace two instances behind nginx under 25k requests, SIGTERM at the endpoint change: 0 errors; SIGKILL at the same moment must fail
	@command -v nginx >/dev/null || { echo "rollout-test: nginx is missing: run make deps (tools/apt/reliability.txt)" >&2; exit 1; }
	@echo "rollout-test: pytest -m rollout Tests/e2e (nginx $$(nginx -v 2>&1 | sed 's|.*/||'), $(RELEASE_BIN))"
	@$(PYTEST) -q -s -rxX -m rollout Tests/e2e

fuzz-test: release ## 13k hostile requests drawn by hypothesis (per class: malformed -> 4xx or close, valid -> 200), its control, slowloris, a pipelining client that never reads, a 1,500-connection flood
	@echo "fuzz-test: pytest -m fuzz Tests/e2e (FUZZ_SEED=$${FUZZ_SEED:-20261125} FUZZ_CASES=$${FUZZ_CASES:-12600}; failures kept, shrunk, in .build/hypothesis)"
	@$(PYTEST) -q -s -rxX -m fuzz Tests/e2e

soak: release ## SOAK_SECONDS (600) of GET / at SOAK_RATE/s (1000); RSS every 10 s; fails on growth over 10 % (not in make test)
	@echo "soak: bench/soak.py --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)"
	@$(HARNESS_PYTHONPATH) $(VENV)/bin/python bench/soak.py --binary $(RELEASE_BIN) --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)

# The soak's short run in `make test`, so that bench/soak.py cannot rot between the long runs.
soak-test: release ## 60 s of GET / at 1000/s through bench/soak.py: no failed request, RSS growth within 10 %
	@echo "soak-test: bench/soak.py --seconds 60 --rate 1000"
	@$(HARNESS_PYTHONPATH) $(VENV)/bin/python bench/soak.py --binary $(RELEASE_BIN) --seconds 60 --rate 1000
