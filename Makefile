# skiff: pull-based GitOps agent for Docker nodes. `make help` lists the targets.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN      := bin/skiff
FUZZTIME ?= 30s

.DEFAULT_GOAL := help
.PHONY: help build test bench demo demo-clean package lint fuzz chaos clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

build: ## build bin/skiff with the version and commit injected
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/skiff

test: ## run every test with the race detector (Docker-backed tests need an engine)
	$(GO) test -race -count=1 -timeout 15m ./...

bench: ## run the benchmarks and write the figures into BENCHMARKS.md
	./scripts/bench

demo: build ## run a node here: Git, two registries, the real agent, narrated (needs Docker; Ctrl-C stops)
	$(GO) build -o bin/skiff-demo ./cmd/skiff-demo
	bin/skiff-demo --skiff $(BIN)

demo-clean: ## remove every container, network, volume, image and directory the demo created
	$(GO) build -o bin/skiff-demo ./cmd/skiff-demo
	bin/skiff-demo --clean

package: build ## build the .deb and .rpm into dist/ (binary, unit, default config, skiff user)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
		$(GO) run ./packaging/mkpkg --binary $(BIN) --version $(VERSION) --out dist

lint: ## gofmt, go vet and shellcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v shellcheck >/dev/null; then shellcheck install.sh .ci/run scripts/* packaging/scripts/*.sh; else echo "shellcheck not installed, skipped"; fi

fuzz: ## fuzz the manifest loader, the config parser and the stored-stack decoder for FUZZTIME each
	$(GO) test ./manifests -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/skiff -run '^$$' -fuzz FuzzDecodeConfig -fuzztime $(FUZZTIME)
	$(GO) test ./manifests -run '^$$' -fuzz FuzzUnmarshalStoredStack -fuzztime $(FUZZTIME)

CHAOS_FUZZTIME ?= 5m
CHAOS_RUN      := TestAgentKilledAtRandomMomentsConverges|TestAgentSurvivesDockerRestartsMidApply|TestAgentThroughALongGitOutage
chaos: ## the long fault campaigns (crash 100, Docker restarts 20, Git outage 40 kills), then CHAOS_FUZZTIME of fuzzing each; counts for RELIABILITY.md
	SKIFF_CHAOS=1 $(GO) test -race -count=1 -timeout 150m -v ./e2e -run '$(CHAOS_RUN)' >chaos.log 2>&1; \
		status=$$?; grep -E '^(--- |ok|FAIL)|_test.go:[0-9]+: (chaos seed|.* campaign: |iteration )' chaos.log; exit $$status
	$(MAKE) fuzz FUZZTIME=$(CHAOS_FUZZTIME)

clean: ## remove build output
	rm -rf bin dist
