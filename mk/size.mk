# The release binary's size per module or library, from the link map `make release` writes.
.PHONY: size

size: release ## Print the release binary's size per module or library (from its link map)
	@echo "==> scripts/size-report.py $(RELEASE_MAP) $(RELEASE_BIN)"
	@python3 scripts/size-report.py $(RELEASE_MAP) $(RELEASE_BIN)
