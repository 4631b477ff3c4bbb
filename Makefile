# The two commands a newcomer needs:
#   make dev    run the server on embedded defaults (same as: go run ./cmd/licensed dev)
#   make test   install what this machine lacks, then vet, test and fuzz briefly
# CI (.ci/run) calls `make test`.

export GOTOOLCHAIN := local
GO ?= go
FUZZTIME ?= 3s
# staticcheck 2026.2.2, by its module version (the module proxy answers the
# release name 2026.2.2 here with 403; v0.8.2 is the same tag). It needs Go 1.26.0.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)/staticcheck

.PHONY: dev test deps tools vet staticcheck unit fuzz fuzz-long bench

dev:
	$(GO) run ./cmd/licensed dev

test: deps tools vet unit fuzz

# System packages the tests need: PostgreSQL server binaries (and, for the
# browser tests, Chromium). Installed only when missing.
deps:
	@.ci/install-deps

# The pinned tools (btcd, btcctl, stripe-mock) from go.mod's tool lines, and
# staticcheck and torchwood's litewitness and witnessctl (the ledger's
# witnesses in tests and dev) at their pinned versions.
tools:
	$(GO) mod download
	$(GO) install tool
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GO) install filippo.io/torchwood/cmd/litewitness@v0.6.1 filippo.io/torchwood/cmd/witnessctl@v0.6.1

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@.ci/check-deps

staticcheck:
	$(STATICCHECK) ./...

unit:
	$(GO) test -count=1 -timeout 12m ./...

# Every Fuzz target, a few seconds each. FUZZTIME=5m make fuzz-long for longer.
fuzz:
	@.ci/fuzz $(FUZZTIME)

fuzz-long:
	@.ci/fuzz 5m

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./ringverify ./issuer ./ledger/...
