# The project's commands. `make demo` and `make test` are the two a newcomer
# needs; both install what they need on a fresh Debian 12 machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
COLLECTIONS := $(CURDIR)/build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/behindproxy/gitlab_runner
LAB_BIN := $(CURDIR)/tests/lab/bin
# Debian 12's python3-tomlkit, which runner_config meets on managed hosts.
DEBIAN_TOMLKIT := 0.11.7
DEBIAN_TOMLKIT_VENV := $(CURDIR)/.venv-tomlkit-$(DEBIAN_TOMLKIT)

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_FORCE_COLOR := false
export PY_COLORS := 0
export NO_COLOR := 1
export BEHINDPROXY_BASE_IMAGE := $(shell $(LAB_BIN)/base-image --tag)

# Every scenario shares one lab (its last destroy takes the lab down), so
# scenario runs on this machine wait for each other on this lock.
LAB_LOCK := /tmp/behindproxy-lab.lock

# Scenarios run by `make molecule` and `make test`: two chains side by side
# on the one lab (tests/tools/chains says why and what keeps them apart),
# each in its order. The first holds every scenario that talks to the fake
# GitLab or installs from the lab's apt repository; `make test` puts the
# lint, sanity and unit layers at the head of the second. Not in them:
# faults (corp-proxy, cntlm and dockerd going down under converges and jobs;
# docs/security.md, "Network faults"; it stops the lab's proxy for every
# host), run alone with `make scenario S=faults`.
CHAIN_LAB ?= lab gitlab_runner default
CHAIN_OTHERS ?= platform cntlm docker_proxy registry_mirror

.PHONY: help setup host-packages engine image runner lint sanity unit molecule scenario test demo clean build bench bench-role bench-modules bench-lab

help:
	@echo "make demo        bring up the lab and show what works"
	@echo "make test        everything CI runs: lint, sanity, unit, molecule"
	@echo "make setup       create .venv with the pinned tools (requirements.txt)"
	@echo "make lint | sanity | unit | molecule | scenario S=<name> | build | clean"
	@echo "make runner      build the real gitlab-runner 19.4.0 packages from its Go module (cached)"
	@echo "make bench | bench-role | bench-modules | bench-lab   measurements (docs/performance.md)"
	@echo "make scenario S=faults   network faults in the lab (not in make test)"

setup: $(VENV)/.installed $(COLLECTION_LINK) host-packages

$(VENV)/.installed: requirements.txt
	python3 -m venv "$(VENV)" || { $(LAB_BIN)/host-packages python3-venv && python3 -m venv "$(VENV)"; }
	"$(VENV)/bin/pip" install -q --disable-pip-version-check --upgrade pip
	"$(VENV)/bin/pip" install -q --disable-pip-version-check -r requirements.txt
	touch "$@"

# The checkout is the collection: link it where Ansible looks for collections.
$(COLLECTION_LINK):
	mkdir -p "$(dir $@)"
	ln -sfn ../../../.. "$@"

host-packages:
	$(LAB_BIN)/host-packages

engine: setup
	$(LAB_BIN)/docker-engine

image: engine
	$(LAB_BIN)/base-image

# ansible-lint puts ANSIBLE_HOME's collections before ours: a private one,
# so that a copy of this collection installed there by another checkout (or
# by Molecule) cannot stand in for the code under test.
lint: setup
	yamllint -s .
	ANSIBLE_HOME="$(CURDIR)/build/ansible-home" ansible-lint --offline

sanity: setup
	tests/tools/sanity

# The real gitlab-runner 19.4.0 and its helper images, built from the
# runner's Go module (tests/lab/runner/README.md; minutes the first time,
# cached by its inputs after that). The lab serves the packages; unit tests
# of the fake GitLab run the binary from the same cache.
runner: image
	tests/lab/runner/build-runner build/runner >/dev/null

unit: engine runner $(DEBIAN_TOMLKIT_VENV)/.installed
	pytest tests/unit
	@echo "unit: config.toml editing again with Debian 12's tomlkit $(DEBIAN_TOMLKIT), as on managed hosts"
	"$(DEBIAN_TOMLKIT_VENV)/bin/pytest" -q tests/unit/plugins/module_utils/test_toml_document.py \
	  tests/unit/plugins/module_utils/test_toml_document_corpus.py tests/unit/plugins/modules/test_runner_config.py \
	  tests/unit/plugins/modules/test_runner_config_toml_test.py \
	  tests/unit/plugins/module_utils/test_toml_document_generated.py \
	  tests/unit/plugins/module_utils/test_toml_document_entries_only.py

# runner_config runs on the managed host, with the distribution's tomlkit.
$(DEBIAN_TOMLKIT_VENV)/.installed: requirements.txt
	python3 -m venv "$(DEBIAN_TOMLKIT_VENV)"
	"$(DEBIAN_TOMLKIT_VENV)/bin/pip" install -q --disable-pip-version-check \
	  $$(grep -E '^(ansible-core|pytest|hypothesis)==' requirements.txt) tomlkit==$(DEBIAN_TOMLKIT)
	touch "$@"

molecule: image
	flock "$(LAB_LOCK)" tests/tools/chains "$(CHAIN_LAB)" "$(CHAIN_OTHERS)"

scenario: image
	@test -n "$(S)" || { echo "usage: make scenario S=<name>" >&2; exit 2; }
	flock "$(LAB_LOCK)" molecule test --scenario-name "$(S)"

# Every layer: lint, sanity and unit, then the scenarios of their chain,
# beside the lab's chain (CHAIN_LAB). Each step's time is printed as it ends;
# after a failure no further step starts.
test: setup image
	flock "$(LAB_LOCK)" tests/tools/chains "$(CHAIN_LAB)" "lint sanity unit $(CHAIN_OTHERS)"

# Measurements (docs/performance.md), not tests: ratios taken in one run.
bench: setup $(DEBIAN_TOMLKIT_VENV)/.installed
	python benchmarks/runner_config.py
	"$(DEBIAN_TOMLKIT_VENV)/bin/python" benchmarks/runner_config.py

# The gitlab_runner role's runner tasks against one lineinfile per setting per
# runner, 1, 10 and 100 runners on localhost against the fake GitLab; long
# (the lineinfile side runs some 2,500 tasks a round), so not part of bench.
bench-role: setup $(DEBIAN_TOMLKIT_VENV)/.installed
	python benchmarks/gitlab_runner_role.py

# Each module's process as Ansible runs it on a host, with Debian 12's
# tomlkit (about 3 minutes, so not in `make bench`).
bench-modules: setup $(DEBIAN_TOMLKIT_VENV)/.installed
	"$(DEBIAN_TOMLKIT_VENV)/bin/python" benchmarks/module_processes.py

# site.yml re-runs on five corp hosts of the lab (12 to 27 minutes, holding
# the lab's lock): not part of `make test`.
bench-lab: image
	flock "$(LAB_LOCK)" python benchmarks/site_rerun.py

demo: image
	flock "$(LAB_LOCK)" tests/tools/demo

build: setup
	mkdir -p build/dist
	ansible-galaxy collection build --force --output-path build/dist .

clean:
	-tests/tools/clean
