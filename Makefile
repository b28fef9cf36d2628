# gisttrack — `make run` and `make test` set up what they need on a Debian-like machine.

CARGO ?= cargo
PREFIX ?= /usr/local
SHELLS := bash zsh fish elvish powershell
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: soak all build run test check-deploy check-openapi fuzz-api demo cover completions lint bench clean install deps browser venv

all: build

# The MySQL backend links the MySQL/MariaDB client library; install it when it is missing.
deps:
	@if ! pkg-config --exists mysqlclient 2>/dev/null && ! pkg-config --exists libmariadb 2>/dev/null; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing default-libmysqlclient-dev (the MySQL client library) with apt-get"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq default-libmysqlclient-dev pkg-config; \
	  else \
	    echo "gisttrack needs the MySQL client library and pkg-config:"; \
	    echo "  Debian/Ubuntu: apt-get install default-libmysqlclient-dev pkg-config"; \
	    echo "  Fedora/RHEL:   dnf install mariadb-connector-c-devel pkgconf"; \
	    echo "  macOS:         brew install mysql-client pkg-config"; \
	    exit 1; \
	  fi; \
	fi

build: deps
	$(CARGO) build --release

# Everything offline: the fake GitHub and Pipedrive, three sample users, a pass, then serve
# on http://127.0.0.1:3000 (DEMO_PORT=... for another port) until Ctrl-C. The demo is make's
# own child, so Ctrl-C ends it cleanly rather than with make's "Interrupt".
demo: deps
	$(CARGO) build --bin gisttrack --example demo
	$(CURDIR)/target/debug/examples/demo $(CURDIR)/target/debug/gisttrack

# Serves the API on the embedded SQLite default (http://127.0.0.1:3000/documentation/index.html).
run: deps
	$(CARGO) run --release -- serve

# The dashboard tests drive Debian's Chromium, headless.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "Installing Chromium (headless, for the dashboard tests) with apt-get"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

test: deps browser
	$(CARGO) test
	$(MAKE) --no-print-directory check-deploy
	$(MAKE) --no-print-directory check-openapi
	$(MAKE) --no-print-directory fuzz-api

# Every Python tool the checks use lives in one virtual environment under target/ (pip never
# writes into the system's or the user's Python); created with python3-venv, which is
# installed with apt-get when venv creation fails. Schemathesis is pinned: new releases add
# checks, and a run must not change colour by itself.
VENV := target/venv
SCHEMATHESIS_VERSION := 4.32.5
PY_TOOLS := schemathesis==$(SCHEMATHESIS_VERSION) kubernetes-validate check-jsonschema openapi-spec-validator
venv:
	@test "$$(cat $(VENV)/tools 2>/dev/null)" = "$(PY_TOOLS)" || { \
	  echo "Installing $(PY_TOOLS) from PyPI into $(VENV)"; \
	  $(VENV)/bin/pip --version >/dev/null 2>&1 || { rm -rf $(VENV); python3 -m venv $(VENV) 2>/dev/null; } \
	    || { rm -rf $(VENV); $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && python3 -m venv $(VENV); } \
	  && $(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS) \
	  && echo "$(PY_TOOLS)" > $(VENV)/tools; }

# The randomized schedule test (tests/schedule.rs) for as long as you like, on SQLite and, with
# GISTTRACK_TEST_MYSQL_URL set, MySQL: make soak SECS=600. It prints its seed;
# GISTTRACK_SCHEDULE_SEED=<seed> replays the same operations.
SECS ?= 300
soak: deps
	GISTTRACK_SCHEDULE_SECS=$(SECS) $(CARGO) test --test schedule -- --nocapture

# Schemathesis against the served OpenAPI document, on the demo's fake GitHub and Pipedrive:
# no 5xx, every answer as documented.
fuzz-api: deps venv
	$(CARGO) build --quiet --bin gisttrack --example demo
	tests/fuzz/run-api-fuzz.sh $(VENV)/bin/schemathesis target/debug/gisttrack target/debug/examples/demo

# The OpenAPI document, as openapi-spec-validator (and code generators) read it. The snapshot
# is the served document: tests/api.rs holds the two equal.
check-openapi: venv
	$(VENV)/bin/openapi-spec-validator tests/snapshots/openapi.json

# The deployment files, checked by the ecosystem's own validators.
# systemd-analyze verify wants ExecStart to exist: it checks copies of the units whose
# ExecStart is the freshly built binary; every other line is checked as written.
check-deploy: venv
	@command -v systemd-analyze >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq systemd; }
	@test -x target/debug/gisttrack || $(CARGO) build --bin gisttrack
	@units=$$(mktemp -d) && for unit in deploy/systemd/*.service deploy/systemd/*.timer; do \
	  sed "s|/usr/local/bin/gisttrack|$(CURDIR)/target/debug/gisttrack|" $$unit > $$units/$$(basename $$unit); \
	done && systemd-analyze verify $$units/*.service $$units/*.timer && echo "systemd units: ok" && rm -r $$units
	$(VENV)/bin/kubernetes-validate --strict deploy/kubernetes/*.yaml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

# Line coverage of the library as the test process runs it (the binaries that the end-to-end
# tests spawn are not traced: tarpaulin's --follow-exec crashes on the SIGTERM test). The
# examples those tests drive (the demo, through make demo) are built first, as cargo test
# would. Prints the figure, or what failed.
cover: deps
	@command -v cargo-tarpaulin >/dev/null 2>&1 || $(CARGO) install cargo-tarpaulin --locked
	$(CARGO) build --bin gisttrack --examples
	@mkdir -p target; $(CARGO) tarpaulin --engine ptrace --skip-clean --out Stdout --exclude-files 'tests/*' 'benches/*' 'examples/*' > target/coverage.log 2>&1; \
	status=$$?; \
	if [ $$status -eq 0 ]; then grep -E '% coverage' target/coverage.log | tail -n 1; \
	else tail -n 40 target/coverage.log; echo "make cover: tarpaulin failed (exit $$status); the whole log is in target/coverage.log"; fi; \
	exit $$status

completions: deps
	$(CARGO) build
	@for shell in $(SHELLS); do \
	  case $$shell in bash) f=gisttrack.bash;; zsh) f=_gisttrack;; fish) f=gisttrack.fish;; elvish) f=gisttrack.elv;; powershell) f=_gisttrack.ps1;; esac; \
	  ./target/debug/gisttrack completions $$shell > completions/$$f; \
	done
	@echo "completions/ updated"

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Every benchmark always runs; the target fails if any missed a target.
bench: deps
	@status=0; \
	$(CARGO) bench --bench sync || status=1; \
	$(CARGO) bench --bench serve || status=1; \
	$(CARGO) bench --bench orgs || status=1; \
	$(CARGO) bench --bench scale || status=1; \
	exit $$status

install: build
	install -Dm755 target/release/gisttrack $(DESTDIR)$(PREFIX)/bin/gisttrack
	install -Dm644 completions/gisttrack.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/gisttrack
	install -Dm644 completions/_gisttrack $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_gisttrack
	install -Dm644 completions/gisttrack.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/gisttrack.fish

clean:
	$(CARGO) clean
