# The NTP server (`epoch serve --ntp-port`, docs/ntp.md) against real clients: chrony (chronyd -Q,
# measure only) and ntpsec's ntpdig where port 123 can be bound. Tools: tools/apt/time.txt.
.PHONY: ntp-test

TEST_TARGETS += ntp-test

ntp-test: release ## chrony (chronyd -Q) and ntpdig measure our NTP server within 1 ms; zero transmit, length rule, refid, rate limit with KoD RATE
	@command -v chronyd >/dev/null || [[ -x /usr/sbin/chronyd ]] \
	  || { echo "ntp-test: chronyd is missing: run make deps (tools/apt/time.txt)" >&2; exit 1; }
	@echo "ntp-test: pytest -m ntp Tests/e2e ($$(/usr/sbin/chronyd -v | head -1), $(RELEASE_BIN))"
	@$(PYTEST) -q -s -rsxX -m ntp Tests/e2e
