#!/usr/bin/env bash
# Migrates and starts the studio: daphne, plus a Celery worker when REDIS_URL is set
# (without it Celery tasks run inside the web process). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=.venv/bin
info() { "$bin/python" scripts/runtime_info.py "$@"; }

web="$(info web)"
read -r host port with_worker <<<"$web"
if [[ "$with_worker" == 1 ]]; then
  # Before migrating, so a Redis that is down stops everything with one clear message.
  worker="$(info worker)"
  read -r queues concurrency <<<"$worker"
fi

echo "==> applying database migrations"
"$bin/python" manage.py migrate --noinput

pids=()
# shellcheck disable=SC2317  # reached through the EXIT trap
stop_all() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

if [[ "$with_worker" == 1 ]]; then
  echo "==> starting a Celery worker on queues $queues"
  "$bin/python" -m celery -A studio worker -Q "$queues" --concurrency "$concurrency" --loglevel "${LOG_LEVEL:-INFO}" &
  pids+=("$!")
fi

url_host="$host"
[[ "$host" == *:* ]] && url_host="[$host]"
echo "==> Creative Studio on http://$url_host:$port/ (Ctrl-C stops it)"
"$bin/daphne" -b "$host" -p "$port" studio.asgi:application &
pids+=("$!")

# Whichever process ends first (crash or Ctrl-C) takes the other down with it.
set +e
wait -n "${pids[@]}"
status=$?
set -e
exit "$status"
