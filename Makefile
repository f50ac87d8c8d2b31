# ciphermail-split-formula: developer entry points.
#   make test   create .venv, install pinned requirements and postfix, run the suite
#   make demo   run both gateway roles against a sandbox (simulator + throwaway Postfix)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH):/usr/sbin:/sbin

.PHONY: test demo venv postfix clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The Debian package, non-interactive, "No configuration": nothing is started
# and /etc/postfix/main.cf is not written. Tests use throwaway config dirs.
postfix:
	@if ! command -v postconf >/dev/null 2>&1; then \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix; \
	fi

test: venv postfix
	$(BIN)/python -m pytest

demo: venv postfix
	$(BIN)/python test/demo.py

clean:
	rm -rf build sandbox .pytest_cache
