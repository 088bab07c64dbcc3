# Creative Studio. Two commands on a fresh machine:
#   make run    install into ./.venv, migrate, start the studio on http://127.0.0.1:8000/
#   make test   install dev tools, start PostgreSQL/Redis if needed, lint and run every test stage
# Installs are keyed on a hash of the requirements files (scripts/install.sh), so both are cheap to repeat.

PYTHON ?= python3
export PYTHON

.DEFAULT_GOAL := help
.PHONY: help run test mutation install install-dev lint services worker-queues check-engines clean

help:
	@echo "make run            install, migrate and start the studio (daphne; plus a Celery worker when REDIS_URL is set)"
	@echo "make test           lint + tests on SQLite + tests on PostgreSQL/Redis + browser tests (STAGES=\"lint default\" for a subset)"
	@echo "make mutation       mutation testing of the modules where a bug costs most (TESTING.md; not part of make test)"
	@echo "make install        install requirements.txt into ./.venv"
	@echo "make install-dev    install requirements-dev.txt into ./.venv"
	@echo "make check-engines  report which models, ComfyUI servers and nodes the studio can use"
	@echo "make services       start PostgreSQL and Redis for the scaled test stage when they are not answering"
	@echo "make clean          remove ./.venv (keeps var/ data)"

mutation:
	@bash scripts/install.sh mutation
	@.venv/bin/python scripts/mutation.py $(MODULES)

install:
	@bash scripts/install.sh runtime

install-dev:
	@bash scripts/install.sh dev

run: install
	@bash scripts/run.sh

test: install-dev
	@bash scripts/test.sh

lint: install-dev
	@.venv/bin/ruff check .
	@.venv/bin/lint-imports

services:
	@bash scripts/services.sh postgres redis

worker-queues: install
	@.venv/bin/python scripts/runtime_info.py queues

check-engines: install
	@.venv/bin/python manage.py check_engines

clean:
	rm -rf .venv
