#!/usr/bin/env bash
# A Celery worker for this studio's queues (the studio queue plus one per ComfyUI server), for
# machines or containers besides the one `make run` uses. Needs REDIS_URL and the web process's
# DATABASE_URL, MEDIA_ROOT and SECRET_KEY (or STUDIO_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${VENV_PYTHON:-.venv/bin/python}"
worker="$("$python" scripts/runtime_info.py worker)"
read -r queues concurrency <<<"$worker"
exec "$python" -m celery -A studio worker -Q "$queues" --concurrency "$concurrency" --loglevel "${LOG_LEVEL:-INFO}" "$@"
