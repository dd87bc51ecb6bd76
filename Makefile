# The two commands: `make run` and `make test`. Everything else is what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= $(or $(LMS_PORT),8000)
export FLASK_APP := wsgi:app

.PHONY: run test static venv system-deps translations migrate seed worker lint services-up services-down bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.installed

# hls.js and echarts from npm, copied into lms/static/dist/ (git-ignored); fast when up to date.
static:
	@bash scripts/build_static.sh

# Debian's ffmpeg/ffprobe (the media pipeline needs them) and fonts-noto-cjk (archive PDFs); installed when missing and we may.
system-deps:
	@command -v ffprobe >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get install -y -qq ffmpeg >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null)) ; \
	  else echo "ffmpeg missing: sudo apt-get install ffmpeg"; fi; }
	@test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null)) ; \
	  else echo "fonts-noto-cjk missing (archive PDFs): sudo apt-get install fonts-noto-cjk"; fi; }

translations: venv
	@$(BIN)/pybabel compile -f -d lms/translations >/dev/null

migrate: venv translations
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask lms seed-demo --media

# Serves the platform on embedded defaults (or on whatever LMS_* points at) with its Celery worker.
run: system-deps seed static
	@mkdir -p instance
	@$(BIN)/celery -A lms.worker worker --beat --schedule instance/celerybeat-schedule --loglevel=warning \
	   --pool=threads --concurrency=2 \
	   > instance/worker.log 2>&1 & echo $$! > instance/worker.pid
	@echo ""
	@echo "  干部网络学院 is running at http://127.0.0.1:$(PORT)/   (Ctrl-C stops it and its worker)"
	@echo "  Demo logins above; every demo password is demo2026. Worker log: instance/worker.log"
	@echo ""
	@trap 'kill $$(cat instance/worker.pid) 2>/dev/null; rm -f instance/worker.pid' EXIT INT TERM; \
	  $(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) wsgi:app

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/lint-imports

test: venv translations system-deps static lint
	$(BIN)/python -m pytest

services-up:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

bench: venv translations
	$(BIN)/python benchmarks/login_home.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
