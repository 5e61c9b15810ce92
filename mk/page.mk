# GET / for people (issue 25): content negotiation on the wire, and the page in headless Chromium
# (Debian's chromium and chromium-driver through selenium) from the release binary: its offset holds
# the truth within 50 ms at --clock-skew 0 and 1.5s, the TOTP verdict at 45s, the control (a /sync
# that lies by 1 s fails the check), no console error or CSP violation, AA contrast light and dark,
# a phone's width. Root: the bound tests set the kernel's maxerror (adjtimex) and put 16 s back.
.PHONY: page-test page-screenshot

PAGE_SCREENSHOT_DIR := docs/images

page-test: release ## The page for browsers in headless Chromium, and JSON byte for byte for every other client (Tests/e2e/service/test_page.py)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || { echo "page-test: chromium and chromium-driver are missing (make deps installs them)" >&2; exit 1; }
	@echo "==> pytest -m page Tests/e2e against $(RELEASE_BIN) ($$(chromium --version 2>/dev/null))"
	@$(PYTEST) -q -s -rxX -m page Tests/e2e

page-screenshot: release ## Regenerate the page's screenshots in docs/images (light, dark, phone) with the accessibility test
	@echo "==> pytest -m page Tests/e2e -k accessible, screenshots to $(PAGE_SCREENSHOT_DIR)/"
	@PAGE_SCREENSHOT_DIR=$(CURDIR)/$(PAGE_SCREENSHOT_DIR) $(PYTEST) -q -s -m page Tests/e2e -k accessible
	@ls -l $(PAGE_SCREENSHOT_DIR)/page-*.png

TEST_TARGETS += page-test
