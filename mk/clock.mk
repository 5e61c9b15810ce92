# Honest clocks: the server's kernel clock discipline, bounds that include it, and whole-second
# sources measured to milliseconds. The work is in Tests/e2e/service/test_clock.py.
.PHONY: clock-test

clock-test: release ## Clock e2e: this kernel's real state everywhere; chrony's no-rtcsync state via adjtimex (root); lying /sync servers; whole seconds to ms
	@echo "clock-test: pytest -m clock Tests/e2e against $(RELEASE_BIN) (kernel: $$(python3 -c 'import ctypes,ctypes.util; print(("TIME_OK","TIME_INS","TIME_DEL","TIME_OOP","TIME_WAIT","TIME_ERROR")[ctypes.CDLL(ctypes.util.find_library("c")).adjtimex(ctypes.create_string_buffer(512))])'))"
	@$(PYTEST) -q -s -rsxX -m clock Tests/e2e

TEST_TARGETS += clock-test
