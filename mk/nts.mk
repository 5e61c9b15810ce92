# Network Time Security (RFC 8915, docs/ntp.md): NTS-KE over TLS 1.3 and NTS-protected NTP of the
# release binary, measured by chrony 4.3 (chronyd -Q, measure only) with failing controls, driven by
# the tests' own client (Tests/e2e/harness/nts_client.py) with hostile input. Tools: tools/apt/time.txt
# (chrony), tools/pip/test.txt (pyOpenSSL, cryptography).
.PHONY: nts-test

TEST_TARGETS += nts-test

nts-test: release ## chrony measures us through NTS within 1 ms (skew 0, 1.5 s); untrusted CA, flipped byte, wrong exporter give nothing; hostile input
	@command -v chronyd >/dev/null || [[ -x /usr/sbin/chronyd ]] \
	  || { echo "nts-test: chronyd is missing: run make deps (tools/apt/time.txt)" >&2; exit 1; }
	@$(VENV)/bin/python -c 'import OpenSSL, cryptography' 2>/dev/null \
	  || { echo "nts-test: pyOpenSSL or cryptography is missing in .venv: run make deps (tools/pip/test.txt)" >&2; exit 1; }
	@echo "nts-test: pytest -m nts Tests/e2e ($$(/usr/sbin/chronyd -v | head -1), $(RELEASE_BIN))"
	@$(PYTEST) -q -s -rsxX -m nts Tests/e2e
