# The benchmark (bench/run, docs/benchmark.md): epoch against an nginx `return 200` anchor under wrk.
# Not part of `make test`: it reports figures and PASS/MISS per target and fails only when a server
# does not start or wrk reports errors.
.PHONY: bench

bench: release ## Benchmark epoch against nginx (wrk, pinned cores): req/s, p50/p99, RSS (idle, under wrk, under a pipelining flood), start to first 200 -> out/bench.md
	@bench/run

# NTP throughput (bench/ntp, docs/benchmark.md): epoch against chronyd -x, plain and NTS, one pinned
# core each, the same sendmmsg load generator (bench/ntp-load.c). Not part of `make test`.
.PHONY: bench-ntp

bench-ntp: release ## NTP and NTS replies/s on one pinned core: epoch vs chronyd -x, same certificate and load generator -> out/bench-ntp.md
	@command -v chronyd >/dev/null || [[ -x /usr/sbin/chronyd ]] \
	  || { echo "bench-ntp: chronyd is missing: run make deps (tools/apt/time.txt)" >&2; exit 1; }
	@$(HARNESS_PYTHONPATH) $(VENV)/bin/python bench/ntp
