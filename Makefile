# gisttrack — `make run` and `make test` set up what they need on a Debian-like machine.

CARGO ?= cargo
PREFIX ?= /usr/local
SHELLS := bash zsh fish elvish powershell
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test check-deploy fuzz-api demo cover completions lint bench clean install deps browser

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
# on http://127.0.0.1:3000 (DEMO_PORT=... for another port) until Ctrl-C.
demo: deps
	$(CARGO) build --bin gisttrack
	$(CARGO) run --quiet --example demo -- $(CURDIR)/target/debug/gisttrack

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
	$(MAKE) --no-print-directory fuzz-api

# Schemathesis (installed into target/fuzz-venv when missing) against the served OpenAPI
# document, on the demo's fake GitHub and Pipedrive: no 5xx, every answer as documented.
FUZZ_VENV := target/fuzz-venv
# Pinned: new Schemathesis releases add checks, and a run must not change colour by itself.
SCHEMATHESIS_VERSION := 4.32.5
fuzz-api: deps
	$(CARGO) build --quiet --bin gisttrack --example demo
	@$(FUZZ_VENV)/bin/schemathesis --version 2>/dev/null | grep -q '$(SCHEMATHESIS_VERSION)' || { echo "Installing Schemathesis from PyPI into $(FUZZ_VENV)"; \
	  python3 -m venv $(FUZZ_VENV) 2>/dev/null || { rm -rf $(FUZZ_VENV); $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && python3 -m venv $(FUZZ_VENV); } \
	  && $(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION); }
	tests/fuzz/run-api-fuzz.sh $(FUZZ_VENV)/bin/schemathesis target/debug/gisttrack target/debug/examples/demo

# The deployment files, checked by the ecosystem's own validators (installed when missing).
# systemd-analyze verify wants ExecStart to exist: it checks copies of the units whose
# ExecStart is the freshly built binary; every other line is checked as written.
check-deploy:
	@command -v kubernetes-validate >/dev/null 2>&1 && command -v check-jsonschema >/dev/null 2>&1 \
	  || { echo "Installing kubernetes-validate and check-jsonschema from PyPI"; \
	       python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate check-jsonschema; }
	@command -v systemd-analyze >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq systemd; }
	@test -x target/debug/gisttrack || $(CARGO) build --bin gisttrack
	@units=$$(mktemp -d) && for unit in deploy/systemd/*.service deploy/systemd/*.timer; do \
	  sed "s|/usr/local/bin/gisttrack|$(CURDIR)/target/debug/gisttrack|" $$unit > $$units/$$(basename $$unit); \
	done && systemd-analyze verify $$units/*.service $$units/*.timer && echo "systemd units: ok" && rm -r $$units
	kubernetes-validate --strict deploy/kubernetes/*.yaml
	check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

# Line coverage of the library as the test process runs it (the binaries that the end-to-end
# tests spawn are not traced: tarpaulin's --follow-exec crashes on the SIGTERM test).
cover: deps
	@command -v cargo-tarpaulin >/dev/null 2>&1 || $(CARGO) install cargo-tarpaulin --locked
	@mkdir -p target; $(CARGO) tarpaulin --engine ptrace --skip-clean --out Stdout --exclude-files 'tests/*' 'benches/*' 'examples/*' > target/coverage.log 2>&1; \
	status=$$?; tail -n 3 target/coverage.log; exit $$status

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
	$(CARGO) bench --bench scale || status=1; \
	exit $$status

install: build
	install -Dm755 target/release/gisttrack $(DESTDIR)$(PREFIX)/bin/gisttrack
	install -Dm644 completions/gisttrack.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/gisttrack
	install -Dm644 completions/_gisttrack $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_gisttrack
	install -Dm644 completions/gisttrack.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/gisttrack.fish

clean:
	$(CARGO) clean
