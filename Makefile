# infraflow: `make dev` runs the local platform, `make test` runs every test.
# Both install what they need first (`make tools`: apt packages and pinned tools).

SHELL := /bin/bash
BIN := $(CURDIR)/.infraflow/bin
export PATH := $(BIN):$(PATH)
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
# Test binaries leave out DWARF: it is a third of each link, and a test binary
# that links the Pulumi SDKs takes 27 CPU-seconds to link.
TESTBUILD := -ldflags=-w

.PHONY: dev test test-unit lint histories fuzz soak tools build bench-engine bench-provision bench-gameday bench-forecast bench-scaling
.DEFAULT_GOAL := dev

## tools: install apt packages and build the pinned temporal/pulumi CLIs (cached outside the clone)
tools:
	@internal/toolchain/install.sh

## build: build the worker and starter into .infraflow/bin
build:
	@echo "==> building worker and starter (the first build compiles the Temporal server: 6-8 minutes)"
	@go build -o $(BIN)/infraflow-worker ./worker
	@go build -o $(BIN)/starter ./starter

## dev: the local platform — Temporal server (SQLite in .infraflow/) + Web UI on :8233 + worker
dev: tools build
	@exec $(BIN)/infraflow-worker --dev

## lint: gofmt, staticcheck on every package, the SDK's workflowcheck on the workflows (pinned linters, built once)
lint:
	@internal/toolchain/install.sh lint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@echo "==> staticcheck ./..."
	@$(BIN)/staticcheck ./...
	@echo "==> workflowcheck ./workflows/... (through go vet, which caches what it found in the dependencies)"
	@# go vet's cache is keyed by the tool's flags, not by the files they name: a
	@# path named by the config's content keeps the cache for every clone and
	@# drops it when the config changes (a path in the clone would do neither).
	@config=$${XDG_CACHE_HOME:-$$HOME/.cache}/infraflow/workflowcheck/$$(sha256sum workflows/workflowcheck.config.yaml | cut -c1-16).yaml; \
		mkdir -p $$(dirname $$config) && cp workflows/workflowcheck.config.yaml $$config && \
		go vet -vettool=$(BIN)/workflowcheck -config=$$config ./workflows/...

## test: lint, unit tests and end-to-end tests against the real local platform
# -parallel 32 lets every end-to-end test queue for platform room, which goes to
# the longest first (tests/room_test.go); with -parallel 8 the long tests of the
# last files started last and the run ended with them alone.
test: lint tools build
	@echo "==> go test ./... (end-to-end tests start real platforms on free ports)"
	@set -o pipefail; INFRAFLOW_TEST_BIN=$(BIN) INFRAFLOW_TRACES=$(abspath $(TRACES)) go test $(TESTBUILD) -json -timeout 60m -parallel 32 ./... | go run ./tests/report

## test-unit: the hermetic unit tier alone (no tools, no platform; go test -short), with the race detector
test-unit:
	@echo "==> go test -short -race ./... (the unit tier: tests that run real tools are left out)"
	@set -o pipefail; go test $(TESTBUILD) -json -short -race ./... | go run ./tests/report

## histories: run the end-to-end tests again, recording their workflow histories for the replay tests
# Each recording goes into its own directory, named by the commit that recorded
# it; older recordings stay: they are what workflows started by older releases
# look like, and the only proof that those still replay.
histories: tools build
	@dir=tests/testdata/histories/recorded-$$(git describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S); \
		echo "==> recording workflow histories from the end-to-end tests into $$dir (about 20 minutes)"; \
		rm -rf $$dir && mkdir -p $$dir && \
		set -o pipefail && INFRAFLOW_RECORD_HISTORIES=$(CURDIR)/$$dir INFRAFLOW_TEST_BIN=$(BIN) INFRAFLOW_TRACES=$(abspath $(TRACES)) \
		go test $(TESTBUILD) -count=1 -json -timeout 60m -parallel 32 ./tests/ | go run ./tests/report && \
		ls $$dir | sed 's/-Test.*//' | sort | uniq -c

## fuzz: run every fuzz target for FUZZTIME each (their seed corpora already run in make test)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
		for target in $$(git grep -h -o '^func Fuzz[A-Za-z0-9_]*' -- "$$pkg/*_test.go" | sed 's/^func //'); do \
			echo "==> $$pkg $$target ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
		done; \
	done

## soak: kill-point sweep: SIGKILL the worker (1 round in 5, the server) at random moments of every workflow, restart, check the invariants (INFRAFLOW_SOAK_TRIALS per workflow, default 20: 71 minutes measured on 2 cores; INFRAFLOW_SOAK_SEED repeats a sweep)
soak: tools build
	@echo "==> kill-point sweep: $${INFRAFLOW_SOAK_TRIALS:-20} trials per workflow (20: over an hour on 2 cores)"
	@INFRAFLOW_SOAK=1 INFRAFLOW_TEST_BIN=$(BIN) INFRAFLOW_TRACES=$(abspath $(TRACES)) \
		go test $(TESTBUILD) -count=1 -run '^TestSoakKillPoints$$' -v -timeout 150m ./tests/

## bench-engine: throughput, approval decision latency, memory at 1,000/10,000 waiting approvals, the server on SQLite and on PostgreSQL side by side (~30 min; ENGINE_ARGS="--short" checks the harness in a few minutes)
bench-engine: tools build
	@echo "==> engine benchmark: embedded server on SQLite and on PostgreSQL + one worker, about half an hour (N=10,000 is most of it)"
	@go run ./tests/bench/engine --out .infraflow/bench $(ENGINE_ARGS)

## bench-provision: ProvisionStack's wall time against its engine steps run back to back and against a raw Automation API up of the same stack (~5 min)
bench-provision: tools build
	@echo "==> provisioning benchmark: workflow vs its engine steps vs a raw Automation API up, in rotation, 5 runs each"
	@go run ./tests/bench/provision --out .infraflow/bench

## bench-gameday: detection, rollback and recovery times of a latency game day (p50/max), and a sweep that SIGKILLs the worker mid-game-day (~5 min; GAMEDAY_ARGS="--seed N" repeats a sweep)
bench-gameday: tools build
	@echo "==> game day benchmark: platform + separate worker + toxiproxy, 5 timing runs and 10 worker kills, about 5 minutes"
	@go run ./tests/bench/gameday --bin $(BIN) --out .infraflow/bench $(GAMEDAY_ARGS)

# The forecast and scaling benchmarks are pure Go (plus the statsmodels peer):
# they build neither the worker nor the Temporal server. TRACES is a directory of
# timestamp,value CSV files.
TRACES ?= ../shared/data/traces

## bench-forecast: WAPE/MASE/sMAPE/CPU of every model and the automatic choice vs last value, seasonal naive and statsmodels Holt-Winters
bench-forecast:
	@test -x /usr/bin/python3 && /usr/bin/python3 -c 'import statsmodels' 2>/dev/null || echo "==> the statsmodels peer needs python3-statsmodels (make tools installs it)"
	@go run ./tests/bench/forecast --traces $(TRACES) --out .infraflow/bench

## bench-scaling: static, the HPA rule, perfect foresight and infraflow's predictive policy in the simulator
bench-scaling:
	@go run ./tests/bench/scaling --traces $(TRACES) --out .infraflow/bench
