#!/usr/bin/env bash
# Makes sure what the test suite needs from the machine is there:
#   postgres  PostgreSQL on 127.0.0.1:5432, user root (trust), database test
#   redis     Redis on 127.0.0.1:6379
#   chromium  Debian's chromium for the browser tests
# Each is left alone when it already answers; otherwise installed from Debian's packages
# (as root) and started with the same commands the machine uses at boot.
set -euo pipefail

say() { echo "    $*"; }
is_root() { [[ "$(id -u)" == 0 ]]; }

apt_updated=""
apt_install() {
  if ! is_root; then
    say "not root: cannot apt-get install $*; install it yourself (sudo apt-get install $*)"
    return 1
  fi
  if [[ -z "$apt_updated" ]]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() {
  local what="$1" tries="$2"
  shift 2
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "error: $what did not come up" >&2
  return 1
}

pg_version() { find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1; }
pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }
pg_test_db_answers() { psql -h 127.0.0.1 -p 5432 -U root -d test -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_answers && pg_test_db_answers; then
    say "PostgreSQL answers on 127.0.0.1:5432"
    return 0
  fi
  local fresh=""
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client || return 1
    fresh=1
  fi
  if ! pg_answers; then
    is_root || { echo "error: PostgreSQL is not running and only root can start it here" >&2; return 1; }
    local version
    version="$(pg_version)"
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
    wait_for "PostgreSQL" 60 pg_answers || return 1
  fi
  if ! pg_test_db_answers; then
    if [[ -z "$fresh" ]]; then
      echo "error: PostgreSQL answers but root@127.0.0.1/test does not; the tests need that role and database (trust auth)" >&2
      return 1
    fi
    # A cluster this script just installed: give it the role, database and loopback trust the tests use.
    local version hba
    version="$(pg_version)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    say "creating role root and database test; trusting loopback connections in $hba"
    su postgres -c "psql -qc 'create role root superuser login'" || true
    su postgres -c "createdb -O root test" || true
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload || return 1
    wait_for "PostgreSQL database test" 20 pg_test_db_answers || return 1
  fi
  say "PostgreSQL answers on 127.0.0.1:5432"
}

redis_answers() { [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_answers; then
    say "Redis answers on 127.0.0.1:6379"
    return 0
  fi
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || return 1
  fi
  if ! redis_answers; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || return 1
    wait_for "Redis" 40 redis_answers || return 1
  fi
  say "Redis answers on 127.0.0.1:6379"
}

ensure_chromium() {
  if [[ -x /usr/bin/chromium ]]; then
    say "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    return 0
  fi
  if ! is_root; then
    say "not root: skipping the chromium install; browser tests need it (sudo apt-get install chromium)"
    return 0
  fi
  apt_install chromium fonts-dejavu-core
  say "chromium: $(/usr/bin/chromium --version 2>/dev/null)"
}

status=0
for what in "${@:-postgres redis chromium}"; do
  for item in $what; do
    case "$item" in
      postgres) ensure_postgres || status=1 ;;
      redis) ensure_redis || status=1 ;;
      chromium) ensure_chromium || status=1 ;;
      *) echo "usage: $0 [postgres] [redis] [chromium]" >&2; exit 2 ;;
    esac
  done
done
exit "$status"
