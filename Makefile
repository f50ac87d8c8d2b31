# ciphermail-split-formula: developer entry points.
#   make test   create .venv, install pinned requirements and postfix, lint, run the suite
#   make test SALT_VERSION=3006
#               the unit, functional and salt-call tiers against the Salt pinned in
#               requirements-salt3006.txt, in its own venv (.venv-salt3006)
#   make lint   ruff (Python), yamllint (YAML), salt-lint (SLS and Jinja)
#   make docs   the maintainers' docs (docs/) with Sphinx, warnings as errors, into build/docs;
#               fails when a diagram's source is broken or its committed render is stale
#   make diagram
#               render docs/*.dot to the docs/*.svg the README shows (commit them)
#   make demo   run both gateway roles against a sandbox (simulator + throwaway Postfix)
#   make spm    build the SPM package into $(SPM_DIR)
#   make bench  the formula against the hand-written SLS (bench/), on the simulator with latency
PYTHON ?= python3

ifdef SALT_VERSION
# 3006 or 3006.29: the series names the pinned requirements; a point release
# must be the one pinned there.
SALT_SERIES  := $(firstword $(subst ., ,$(SALT_VERSION)))
REQUIREMENTS := requirements-salt$(SALT_SERIES).txt
VENV         ?= .venv-salt$(SALT_SERIES)
ifeq ($(wildcard $(REQUIREMENTS)),)
$(error SALT_VERSION=$(SALT_VERSION): there is no $(REQUIREMENTS))
endif
ifeq ($(shell grep -E '^salt==$(subst .,\.,$(SALT_VERSION))(\.|$$)' $(REQUIREMENTS)),)
$(error SALT_VERSION=$(SALT_VERSION): $(REQUIREMENTS) pins $(shell grep '^salt==' $(REQUIREMENTS)))
endif
# The tiers every supported Salt must pass: what Salt's release can change
# (loader, render, state machinery, salt-call, salt-ssh). The pure unit tier,
# the master tier and the tests marked default_salt_only run on the default
# Salt only (docs/tests.rst), so CI stays within its time on two cores.
TIERS        := -m 'not master and not default_salt_only' test/functional test/integration
else
REQUIREMENTS := requirements.txt
VENV         ?= .venv
TIERS        :=
endif

BIN      := $(CURDIR)/$(VENV)/bin
# The linters and Sphinx live in .venv, whatever Salt the tests run against.
LINT_BIN := $(CURDIR)/.venv/bin
export PATH := $(BIN):$(PATH):/usr/sbin:/sbin

.PHONY: test lint lint-python lint-yaml lint-salt docs diagram demo bench spm venv postfix sshd graphviz clean

venv: $(VENV)/.installed

define make-venv
	test -x $(@D)/bin/python || $(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install --quiet -r $<
	touch $@
endef

.venv/.installed: requirements.txt
	$(make-venv)

.venv-salt%/.installed: requirements-salt%.txt
	$(make-venv)

# The Debian package, non-interactive, "No configuration": nothing is started
# and /etc/postfix/main.cf is not written. Tests use throwaway config dirs.
postfix:
	@if ! command -v postconf >/dev/null 2>&1; then \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix; \
	fi

# The Debian package for the salt-ssh tests, which start their own sshd on
# 127.0.0.1 (test/support/sshd.py); the system's sshd is not started.
sshd:
	@if ! test -x /usr/sbin/sshd; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client; \
	fi

# Six workers on the two cores CI has, each taking tests from the others
# when it runs dry (worksteal: the long master and clean tests do not hold up
# the end): much of a test waits on Postfix (it pauses while main.cf is
# younger than a second) or on child processes. A SALT_VERSION run does not
# lint: the linters live in .venv.
test: venv postfix sshd $(if $(SALT_VERSION),,lint)
	$(BIN)/python -m pytest -n 6 --dist worksteal $(TIERS)

# One target per linter, so that .pre-commit-config.yaml runs the same commands.
SLS_FILES := $(shell find ciphermail_split bench -name '*.sls' -o -name '*.jinja' | sort)
lint: lint-python lint-yaml lint-salt

lint-python: .venv/.installed
	$(LINT_BIN)/ruff check --quiet .

lint-yaml: .venv/.installed
	$(LINT_BIN)/yamllint --strict .

lint-salt: .venv/.installed
	$(LINT_BIN)/salt-lint $(SLS_FILES) pillar.example

# Graphviz draws the diagrams (docs/*.dot): Debian's package, and the fonts
# its render is measured with (Helvetica and Courier are Liberation Sans and
# Mono there), if either is missing.
graphviz:
	@if ! command -v dot >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -q 'Liberation Sans'; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz fonts-liberation2; \
	fi

# Each docs/<name>.dot is rendered to build/docs/<name>.svg, which must be
# byte for byte the committed docs/<name>.svg (dot's output is the same for
# the same source, Graphviz and fonts; CI's are Debian 12's). Then Sphinx builds the
# HTML into build/docs/html: -W (warnings are errors), -n (every reference
# must resolve), -E (modules found afresh, see docs/_ext/formula_reference.py).
DIAGRAMS := $(wildcard docs/*.dot)
docs: .venv/.installed graphviz
	rm -rf build/docs && mkdir -p build/docs
	@for source in $(DIAGRAMS); do \
	  render=build/docs/$$(basename $${source%.dot}).svg; \
	  dot -Tsvg $$source -o $$render || exit 1; \
	  cmp -s $$render $${source%.dot}.svg || { \
	    echo "$${source%.dot}.svg is not the render of $$source ($$(dot -V 2>&1)): run make diagram"; exit 1; }; \
	done
	$(LINT_BIN)/sphinx-build -E -W -n --keep-going -q -b html -d build/docs/doctrees docs build/docs/html
	@echo "docs: build/docs/html/index.html"

diagram: graphviz
	for source in $(DIAGRAMS); do dot -Tsvg $$source -o $${source%.dot}.svg || exit 1; done

demo: venv postfix
	cd test && $(BIN)/python demo.py

# Not part of `make test`: it times runs. Exits non-zero when a converged
# formula run writes anything or reads the gateway more than the SLS by hand.
CIPHERMAIL_SIM_LATENCY_MS ?= 150
CIPHERMAIL_SIM_PLAYBOOK_SECONDS ?= 3
BENCH_RUNS ?= 5
bench: venv postfix
	CIPHERMAIL_SIM_LATENCY_MS=$(CIPHERMAIL_SIM_LATENCY_MS) \
	CIPHERMAIL_SIM_PLAYBOOK_SECONDS=$(CIPHERMAIL_SIM_PLAYBOOK_SECONDS) \
	BENCH_RUNS=$(BENCH_RUNS) $(BIN)/python bench/run.py

# SPM packages what an admin installs: FORMULA, the SLS tree, _modules,
# _states, _utils, _wrapper, pillar.example, README.rst, LICENSE and CHANGELOG.rst (not
# the tests, the docs or the venv).
SPM_DIR ?= $(CURDIR)/build/spm
spm: venv
	rm -rf $(SPM_DIR) && mkdir -p $(SPM_DIR)/ciphermail_split $(SPM_DIR)/conf
	cp -r FORMULA README.rst LICENSE CHANGELOG.rst pillar.example ciphermail_split _modules _states _utils _wrapper \
	  $(SPM_DIR)/ciphermail_split/
	find $(SPM_DIR) -name __pycache__ -prune -exec rm -rf {} +
	printf 'spm_build_dir: %s\nspm_cache_dir: %s\nspm_db: %s\nspm_logfile: %s\n' \
	  $(SPM_DIR) $(SPM_DIR)/cache $(SPM_DIR)/spm.db $(SPM_DIR)/spm.log > $(SPM_DIR)/conf/spm
	$(BIN)/spm --config-dir=$(SPM_DIR)/conf --assume-yes build $(SPM_DIR)/ciphermail_split

clean:
	rm -rf build sandbox .pytest_cache
