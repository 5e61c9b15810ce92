# The benchmark (bench/run, docs/benchmark.md): epoch against an nginx `return 200` anchor under wrk.
# Not part of `make test`: it reports figures and PASS/MISS per target and fails only when a server
# does not start or wrk reports errors.
.PHONY: bench

bench: release ## Benchmark epoch against nginx (wrk, pinned cores): req/s, p50/p99, RSS (idle, under wrk, under a pipelining flood), start to first 200 -> out/bench.md
	@bench/run
