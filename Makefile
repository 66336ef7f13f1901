# Convenience targets; each one calls the scripts that do the work (run as root).
OPDHOST := .venv/bin/opdhost

.PHONY: help setup images main lab lab-status lab-down test ci lint unit

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## apt packages, Podman settings, .venv, lab images
	scripts/setup.sh

images: ## build the lab images (only when their inputs changed)
	scripts/lab/build-images.sh

main: ## setup, lab up, lab status (the README's main command)
	scripts/main.sh

lab: ## bring the lab up (idempotent)
	$(OPDHOST) lab up

lab-status: ## show the lab's nodes and services
	$(OPDHOST) lab status

lab-down: ## remove the lab's containers and network
	$(OPDHOST) lab down

test: ## setup, lint, pytest, every Molecule scenario (the README's test command)
	scripts/test.sh

ci: ## what CI runs
	.ci/run

lint: ## ruff, mypy, shellcheck, yamllint, ansible-lint
	.venv/bin/ruff check .
	.venv/bin/mypy
	shellcheck $$(git ls-files '*.sh' .ci/run)
	.venv/bin/yamllint .
	.venv/bin/ansible-lint --profile production

unit: ## the unit tests only (no containers)
	.venv/bin/pytest tests/unit
