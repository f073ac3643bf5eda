# Warden: `make up` starts the local stack with everything it needs; `make test` runs every test.
SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/node/bin:$(ROOT)/.tools/bin:$(ROOT)/node_modules/.bin:$(PATH)
export NX_DAEMON := false
export NX_NO_CLOUD := true
export NX_SKIP_NX_CACHE := false

# test/cluster (the chaos test, minutes of a whole cluster) runs apart: make test-cluster.
INTEGRATION_FILES := 'test/!(cluster)/**/*.test.ts'
TEST_FILES := 'libs/*/src/**/*.test.ts' 'services/*/src/**/*.test.ts' 'cli/src/**/*.test.ts' 'deploy/local/src/**/*.test.ts' $(INTEGRATION_FILES)

.PHONY: setup up down test test-cluster test-unit test-integration test-policy test-differential test-manifests lint typecheck format bench detect-eval clean

setup: ## Install Node.js 24, Debian packages, the Go-built tools and npm dependencies (idempotent).
	@bash scripts/setup.sh

up: setup ## Start nats-server, redis, VictoriaMetrics and every service; Ctrl-C stops them in order. CLUSTER=3: three NATS nodes (R3), Redis with Sentinels, two replicas per service.
	@node deploy/local/src/up.ts $(if $(CLUSTER),--cluster $(CLUSTER))

down: ## Stop the stack `make up` runs (from another terminal), services first.
	@node deploy/local/src/down.ts

test: setup lint typecheck test-manifests ## Lint, format check, type check, the Kubernetes manifests, then every unit and integration test.
	@node --test --test-concurrency=2 --test-timeout=300000 $(TEST_FILES)

test-cluster: setup ## The chaos test: the cluster stack under load while nodes, the Redis primary and replicas are killed (minutes).
	@node --test --test-timeout=900000 'test/cluster/**/*.test.ts'

test-unit: setup ## Unit tests only (no servers).
	@node --test 'libs/*/src/**/*.test.ts' 'services/*/src/**/*.test.ts' 'cli/src/**/*.test.ts' 'deploy/local/src/**/*.test.ts'

test-integration: setup ## Integration tests against real servers.
	@node --test --test-concurrency=2 --test-timeout=300000 $(INTEGRATION_FILES)

test-manifests: setup ## The checker's own Go tests, then every kustomization of deploy/kubernetes rendered and decoded strictly.
	@cd tools/cmd/manifest-check && GOFLAGS=-mod=readonly go test ./...
	@manifest-check deploy/kubernetes

test-policy: setup ## The policy engine's unit tests and test/policy (the inner loop for policy work).
	@node --test --test-concurrency=2 --test-timeout=300000 'libs/policy-engine/src/**/*.test.ts' 'test/policy/**/*.test.ts'

test-differential: setup ## Warden's Rego decisions against opa eval on 50,000 generated requests (minutes; make test runs 5,000).
	@WARDEN_DIFF_INPUTS=$${WARDEN_DIFF_INPUTS:-50000} node --test --test-timeout=1800000 test/policy/differential/differential.test.ts

lint: setup ## ESLint and Prettier.
	@eslint --max-warnings=0 .
	@prettier --check --log-level=warn .

typecheck: setup ## TypeScript, strict, whole workspace.
	@tsc -p tsconfig.json

format: setup
	@prettier --write --log-level=warn .

bench: setup ## make bench NAME=<benchmark> (make bench NAME=list shows them).
	@node bench/src/run.ts $(NAME)

detect-eval: setup ## Precision, recall and time to detect per attack on the labelled synthetic mesh (README "Detection").
	@node bench/src/run.ts detection

clean: ## Remove installed tools, dependencies and local stack data.
	rm -rf .tools node_modules .nx .warden
