# stasis: build, set-up and test entry points. Run as root on Debian 12.
SHELL := /bin/bash

# Go lives in /usr/local/go on the project's machines; use it when `go` is not on PATH.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif
# /usr/local/sbin holds the CRIU that scripts/install-criu.sh builds.
export PATH := /usr/local/sbin:$(PATH)
export CGO_ENABLED := 1

GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.gitCommit=$(GIT_COMMIT)
# urfave_cli_no_docs drops urfave/cli's man-page code (and blackfriday's
# package init, ~1 ms of every command's start-up); -s -w leave the symbol
# tables out, so fewer binary pages are touched. Tracebacks still work.
GOFLAGS_BUILD := -trimpath -tags urfave_cli_no_docs

BATS_FLAGS ?=

.PHONY: all build deps unit bats security e2e test demo bench bench-readme clean helpers faults conformance fuzz

all: build

# Always run go build: its own cache makes a no-op build fast, and the
# embedded commit stays right.
build:
	go build $(GOFLAGS_BUILD) -o stasis -ldflags "$(LDFLAGS)" .

# Small Go helper programs the bats suites use (tests/cmd/*). crhelper and
# sechelper are copied into busybox rootfses (checkpoint.bats,
# tests/security), so they must be static.
helpers:
	@mkdir -p build
	go build -o build/recvtty ./tests/cmd/recvtty
	CGO_ENABLED=0 go build -o build/crhelper ./tests/cmd/crhelper
	CGO_ENABLED=0 go build -o build/sechelper ./tests/cmd/sechelper
	go build -o build/seccompagent ./tests/cmd/seccompagent
	go build -o build/nsmounts ./tests/cmd/nsmounts
	go build -o build/ptyrun ./tests/cmd/ptyrun
	go build -o build/ptyhold ./tests/cmd/ptyhold
	go build -o build/tcppipe ./tests/cmd/tcppipe

# build/stasis-faults: stasis with the stasis_faults tag, which SIGKILLs
# itself at the step $STASIS_FAULT names (internal/faults); only
# tests/bats/faults.bats runs it. Never install it.
faults:
	@mkdir -p build
	go build -trimpath -tags urfave_cli_no_docs,stasis_faults -o build/stasis-faults -ldflags "$(LDFLAGS)" .

deps:
	scripts/install-deps.sh
	scripts/install-criu.sh

# Plain go test also runs every fuzz target's seed corpus (f.Add and
# testdata/fuzz/FuzzX/), crashers found before included.
unit:
	go test ./...

# Every fuzz target (func FuzzX), one after another, FUZZTIME each;
# FUZZ=regex picks targets. A crasher lands in PKG/testdata/fuzz/FuzzX/:
# keep it as a seed. Not part of make test: it takes minutes.
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bats: build helpers faults
	STASIS=$(CURDIR)/stasis RECVTTY=$(CURDIR)/build/recvtty scripts/run-bats.sh $(BATS_FLAGS) tests/bats

# A regression test for each class of runc CVE (tests/security/cve-*.bats,
# each saying what it proves): every one fails on a runtime with the hole.
security: build helpers
	STASIS=$(CURDIR)/stasis RECVTTY=$(CURDIR)/build/recvtty scripts/run-bats.sh $(BATS_FLAGS) tests/security

# End to end through Docker, containerd (ctr, go-runc) and podman, each
# with daemons of its own (scripts/e2e.sh installs and tears them down).
# E2E_AREAS narrows it: gorunc containerd docker checkpoint podman cri.
e2e: build
	STASIS=$(CURDIR)/stasis scripts/e2e.sh $(E2E_AREAS)

test: deps
	$(MAKE) build
	$(MAKE) unit
	$(MAKE) bats
	$(MAKE) security
	$(MAKE) e2e

# runc's integration suite and the OCI runtime-tools validation suite from
# CONFORMANCE_DIR (default ../shared/conformance), compared with
# tests/conformance/expected-*.txt: a test that passed there and fails now
# fails the target. CONFORMANCE_FLAGS="--update" rewrites those files;
# CONFORMANCE_FLAGS="runc" or "rtt" runs one suite. Not part of make test:
# a user's clone has no ../shared.
CONFORMANCE_DIR ?= $(CURDIR)/../shared/conformance
conformance: deps
	$(MAKE) build
	CONFORMANCE_DIR=$(CONFORMANCE_DIR) STASIS=$(CURDIR)/stasis scripts/conformance.sh $(CONFORMANCE_FLAGS)

# stasis vs runc (crun where it runs) and raw CRIU; writes bench/results/.
# Not part of make test: it takes minutes and its figures are not asserted.
bench: deps
	$(MAKE) build
	cd bench && go run . -stasis ../stasis -runc runc -out results $(BENCH_FLAGS)

# Splices bench/results/results.md (written by the last `make bench`) into
# bench/README.md between its results markers.
bench-readme:
	cd bench && go run ./splice -readme README.md -results results/results.md

demo: deps
	$(MAKE) build
	STASIS=$(CURDIR)/stasis scripts/demo.sh

clean:
	rm -rf stasis build
	go clean -testcache
