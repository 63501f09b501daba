# Beacon: the two commands are `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := cad.settings


.PHONY: run test faults fuzz venv install install-dev lock lock-upgrade migrate demo serve lint format bench clean

run: install migrate demo serve

# `make test` runs the fault suite's core (Redis killed, PostgreSQL restarted, a Celery worker
# killed: about 3 minutes); `make faults` runs all of it, on a private PostgreSQL cluster and
# redis-server (docs/reliability.md). REDIS_BREAKER=0 make faults shows the Redis faults failing.
# The suite runs as WORKERS pytest-xdist workers, each taking the next whole file as it ends one,
# with its own test database, Redis database and prefixes (tests/xdist_workers.py); WORKERS=0
# runs it in one process.
WORKERS ?= 2
test: install-dev
	$(PY) -m pytest -p tests.xdist_workers -n $(WORKERS) --dist loadfile --no-loadscope-reorder \
		--durations=25 -m "not faults_extended" $(PYTEST_ARGS)

faults: install-dev
	$(PY) -m pytest -m faults tests/faults radio/tests/test_worker_kill.py -s $(PYTEST_ARGS)

# The API fuzz gate of `make test` (tests/test_api_fuzz.py), much larger: every role and
# anonymous, a fixed seed and a fresh one, the coverage phase added, many more cases per
# operation and stateful scenarios. `FUZZ_SEED=<seed> make fuzz` replays the seed a failure
# names (docs/reliability.md, "Fuzzing").
FUZZ_EXAMPLES ?= 50
FUZZ_STATEFUL ?= 30
fuzz: install-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_STATEFUL=$(FUZZ_STATEFUL) \
	FUZZ_PHASES=examples,coverage,fuzzing \
		$(PY) -m pytest tests/test_api_fuzz.py -k no_request_answers -rP -q -s \
		$(PYTEST_ARGS)

venv: $(VENV)/bin/activate

$(VENV)/bin/activate:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Beacon needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3 -m venv failed: installing Debian's python3-venv"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq python3-venv && \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

# Installs come from the lock files only, every hash checked: requirements.txt (what runs, also
# in the Docker image) and requirements-dev.txt (the same pins plus the test tools). The project
# itself is not installed: it runs from this directory.
install: $(VENV)/.installed

$(VENV)/.installed: $(VENV)/bin/activate requirements.txt
	$(PY) -m pip install -q --require-hashes -r requirements.txt
	@touch $@

# Test tools (pytest, Playwright's driver, ruff) only where tests run.
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q --require-hashes -r requirements-dev.txt
	@touch $@

# Regenerate the lock files after editing the dependencies in pyproject.toml (the one place
# they are written by hand). Pins already in the lock files are kept where they still fit;
# `make lock-upgrade` moves everything to the newest allowed versions. The dev lock is resolved
# first and the runtime lock is constrained by it, so the image runs the versions CI tested.
# Universal resolution: the same files install on any Python >= 3.11 and platform.
UV_VERSION := 0.13.8
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --quiet --custom-compile-command "make lock"
UV_UPGRADE ?=

lock: $(VENV)/bin/activate
	@$(VENV)/bin/uv --version 2>/dev/null | grep -q " $(UV_VERSION)" || \
		$(PY) -m pip install -q "uv==$(UV_VERSION)"
	$(UV_COMPILE) $(UV_UPGRADE) --extra dev -o requirements-dev.txt
	$(UV_COMPILE) $(UV_UPGRADE) -c requirements-dev.txt -o requirements.txt

lock-upgrade:
	$(MAKE) lock UV_UPGRADE=--upgrade

migrate: install
	$(PY) manage.py migrate --noinput

# A short past (DEMO_HISTORY days of incidents) so the figures at /stats/ are alive at first
# sight; `manage.py seed_demo --history 90` for more. Only missing days are added.
DEMO_HISTORY ?= 14
demo: install
	$(PY) manage.py seed_demo --history $(DEMO_HISTORY)

# With REDIS_URL set, real Celery workers and beat run beside daphne: one worker for the
# default and radio queues, and one of its own for recommendations, so radio bursts cannot
# delay them. Without REDIS_URL, tasks run in-process in daphne, and `radio_sweep` stands in
# for beat (stranded radio messages, the 60 s undelivered-despatch alert).
# `make run SIMULATOR=1` also starts the radio-gateway simulator (SIM_PORT, SIM_SPEEDUP) and
# the bridge, and sends despatch messages to the simulator, so units on the demo board move.
SIMULATOR ?=
SIM_PORT ?= 8765
SIM_SPEEDUP ?= 10
# Two simulated partner CADs (an ambulance service and a fire brigade) run beside the demo by
# default, on PARTNER_SIM_PORT and the port after it, where seed_demo points the demo's LAS and
# LFB: sharing an incident shows its delivery state, and the partner's answer lands in the log
# (docs/partners.md). `make run PARTNERS=0` leaves them out. They sign in to Beacon as the demo
# accounts las_cad and lfb_cad, so they need seed_demo's DEMO_PASSWORD.
PARTNERS ?= 1
PARTNER_SIM_PORT ?= 8766
export PARTNER_SIM_PORT
# The simulators answer Beacon on loopback, also when it listens on every address.
BEACON_LOCAL := http://$(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST)):$(PORT)

serve: install
	$(PY) manage.py collectstatic --noinput -v 0
	@trap 'kill 0' EXIT INT TERM; \
	if [ -n "$(SIMULATOR)" ]; then \
		export RADIO_GATEWAY_ADAPTER=radio.adapters.WebSocketGatewayAdapter; \
		export RADIO_GATEWAY_URL=ws://127.0.0.1:$(SIM_PORT)/; \
		$(PY) manage.py radio_simulator --port $(SIM_PORT) --speedup $(SIM_SPEEDUP) & \
		$(PY) manage.py radio_bridge & \
	fi; \
	if [ -n "$(PARTNERS)" ] && [ "$(PARTNERS)" != 0 ]; then \
		export PARTNER_SIMULATOR_PASSWORD="$${DEMO_PASSWORD:-beacon-demo-2026}"; \
		$(PY) manage.py partner_simulator --port $(PARTNER_SIM_PORT) --agency las.sim.example \
			--name "London Ambulance Service (simulated)" --kind ems --username las_cad \
			--beacon $(BEACON_LOCAL) & \
		$(PY) manage.py partner_simulator --port $$(( $(PARTNER_SIM_PORT) + 1 )) \
			--agency lfb.sim.example --name "London Fire Brigade (simulated)" --kind fire \
			--username lfb_cad --beacon $(BEACON_LOCAL) & \
	fi; \
	if [ -n "$$REDIS_URL" ]; then \
		$(VENV)/bin/celery -A cad worker -Q default,radio,texts,report_texts -n main@%h -l info & \
		$(VENV)/bin/celery -A cad worker -Q recommend -c 2 -n recommend@%h -l info & \
		$(VENV)/bin/celery -A cad beat -l info & \
	else \
		$(PY) manage.py radio_sweep & \
	fi; \
	echo "Beacon control room: http://$(HOST):$(PORT)/"; \
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) --websocket_connect_timeout 30 \
		--websocket-max-message-size 8388608 cad.asgi:application

# Every check that needs no running service, one command a line. makemigrations and spectacular
# load the settings but touch no database (makemigrations checks the migration history only
# when one answers), so lint runs before the tests in .ci/run and anywhere else.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every script at CI size, all of them even when one misses its target or fails (a miss at this
# size is noise as often as news), then the list of those that did not pass.
bench: install
	@failed=""; \
	for b in $$(grep -l '__main__' bench/*.py); do \
		echo "== $$b"; $(PY) $$b --small || failed="$$failed $$b"; \
	done; \
	if [ -n "$$failed" ]; then echo "== not passed:$$failed"; exit 1; fi; \
	echo "== every benchmark passed"

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .pytest_cache
