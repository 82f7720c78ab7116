# Weft — the two commands that matter: `make run` (serve a volume) and `make test` (everything CI runs).
GO        ?= go
BIN       := bin/weft
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
GOBIN     := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):/usr/local/go/bin:$(PATH)

.PHONY: all build test test-short race lint bench run fuzz deps clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/weft

# Debian packages and Go tools the tests use; installed once, idempotent.
deps:
	@bash integration/scripts/deps.sh

# Everything CI runs: lint, unit tests with the race detector, then the process and
# kernel-client integration suites.
test: deps build lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -timeout 25m -tags integration ./integration/...

test-short:
	$(GO) test -short -count=1 $(PKGS)

race:
	$(GO) test -race -short -count=1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck $(PKGS)

bench:
	@bash integration/scripts/bench.sh

fuzz:
	@bash integration/scripts/fuzz.sh

run: build
	./$(BIN) dev --dir ./run

clean:
	rm -rf bin
