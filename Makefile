# Warden: `make up` starts the local stack with everything it needs; `make test` runs every test.
SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/node/bin:$(ROOT)/.tools/bin:$(ROOT)/node_modules/.bin:$(PATH)
export NX_DAEMON := false
export NX_NO_CLOUD := true
export NX_SKIP_NX_CACHE := false

TEST_FILES := 'libs/*/src/**/*.test.ts' 'services/*/src/**/*.test.ts' 'cli/src/**/*.test.ts' 'deploy/local/src/**/*.test.ts' 'test/**/*.test.ts'

.PHONY: setup up test test-unit test-integration test-policy test-differential test-manifests lint typecheck format bench detect-eval clean

setup: ## Install Node.js 24, Debian packages, the Go-built tools and npm dependencies (idempotent).
	@bash scripts/setup.sh

up: setup ## Start nats-server, redis, VictoriaMetrics and every service; Ctrl-C stops them in order.
	@node deploy/local/src/up.ts

test: setup lint typecheck test-manifests ## Lint, format check, type check, the Kubernetes manifests, then every unit and integration test.
	@node --test --test-concurrency=2 --test-timeout=300000 $(TEST_FILES)

test-unit: setup ## Unit tests only (no servers).
	@node --test 'libs/*/src/**/*.test.ts' 'services/*/src/**/*.test.ts' 'cli/src/**/*.test.ts' 'deploy/local/src/**/*.test.ts'

test-integration: setup ## Integration tests against real servers.
	@node --test --test-concurrency=2 --test-timeout=300000 'test/**/*.test.ts'

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
