# The two commands that matter: `make run` starts sonde with no config,
# `make test` runs every test (installing what the tests need first).

GO ?= go
PKGS = ./...

.PHONY: run build deps test check fuzz bench clean

run:
	$(GO) run ./cmd/sonde serve

build:
	$(GO) build -o bin/sonde ./cmd/sonde

# Debian packages the tests run against (scripts/test-deps.sh lists them).
deps:
	scripts/test-deps.sh

test: deps check
	$(GO) test -timeout 20m $(PKGS)

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

# Short fuzzing of every decoder and the query parser.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	bench/ingest.sh

clean:
	rm -rf bin sonde-data
