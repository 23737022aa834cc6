# Shared set-up steps for scripts/run and scripts/test: a virtual environment with the
# project installed, and the local services it needs (installed when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {
  say "installing $* (system packages)"
  if [ ! -f /var/lib/apt/periodic/cc-updated ] ; then
    as_root apt-get update -qq
    as_root mkdir -p /var/lib/apt/periodic && as_root touch /var/lib/apt/periodic/cc-updated
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_venv() {
  local extras="$1"
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Python 3.11 or newer is required (found $(python3 --version 2>&1))" >&2; exit 1
  fi
  if [ ! -x "$PY" ]; then
    say "creating the virtual environment in .venv"
    python3 -m venv "$VENV" || { apt_install python3-venv; python3 -m venv "$VENV"; }
  fi
  # Reinstall only when the dependencies changed since the last install. An install with the
  # dev extras (scripts/test's) holds everything scripts/run needs too.
  local stamp="$VENV/.installed-${extras:-base}"
  local digest
  digest="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -z "$extras" ] && [ "$(cat "$VENV/.installed-dev" 2>/dev/null)" = "$digest" ]; then
    return 0
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    say "installing the project and its dependencies"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e "$ROOT${extras:+[$extras]}"
    echo "$digest" > "$stamp"
  fi
}

redis_answers() { "$PY" - "$1" <<'PYEOF'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PYEOF
}

# Set by ensure_redis when it started a Redis (its pid file), for stop_started_redis.
STARTED_REDIS_PIDFILE=""

ensure_redis() {
  local url="${1:-${REDIS_URL:-redis://127.0.0.1:6379/0}}"
  redis_answers "$url" && return 0
  local port
  port="$("$PY" -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 6379)' "$url")"
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting a local Redis on 127.0.0.1:$port"
  mkdir -p "$ROOT/var/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$ROOT/var/redis" --logfile "$ROOT/var/redis/redis-$port.log" \
    --pidfile "$ROOT/var/redis/redis-$port.pid"
  STARTED_REDIS_PIDFILE="$ROOT/var/redis/redis-$port.pid"
  for _ in $(seq 50); do redis_answers "$url" && return 0; sleep 0.1; done
  echo "Redis did not start; see var/redis/redis-$port.log" >&2; exit 1
}

# Stops the Redis ensure_redis started, if it started one, and waits until it has gone.
stop_started_redis() {
  [ -n "$STARTED_REDIS_PIDFILE" ] && [ -f "$STARTED_REDIS_PIDFILE" ] || return 0
  local pid
  pid="$(cat "$STARTED_REDIS_PIDFILE")"
  say "stopping the Redis started for this run (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  STARTED_REDIS_PIDFILE=""
}

# The Redis the tests use: TEST_REDIS_URL if given, else REDIS_URL's server with database 15
# (the tests flush it), else database 15 of the local default.
test_redis_url() {
  if [ -n "${TEST_REDIS_URL:-}" ]; then echo "$TEST_REDIS_URL"; return 0; fi
  "$PY" - "${REDIS_URL:-redis://127.0.0.1:6379/0}" <<'PYEOF'
import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1])
query = [(k, v) for k, v in u.parse_qsl(url.query) if k != "db"]
if url.scheme == "unix":   # the path is the socket's; the database goes in the query
    print(u.urlunsplit((url.scheme, url.netloc, url.path, u.urlencode(query + [("db", "15")]), "")))
else:
    print(u.urlunsplit((url.scheme, url.netloc, "/15", u.urlencode(query), "")))
PYEOF
}

postgres_answers() { "$PY" - "$1" <<'PYEOF'
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1], timeout=2)
    await conn.close()
try:
    asyncio.run(main())
except Exception:
    sys.exit(1)
PYEOF
}

# Sets TEST_POSTGRES_URL to a PostgreSQL the tests may create databases in.
ensure_postgres() {
  if [ -n "${TEST_POSTGRES_URL:-}" ] && postgres_answers "$TEST_POSTGRES_URL"; then return 0; fi
  local trust="postgresql://postgres@127.0.0.1:5432/postgres"
  local password="postgresql://postgres:postgres@127.0.0.1:5432/postgres"
  for url in "$trust" "$password"; do
    if postgres_answers "$url"; then export TEST_POSTGRES_URL="$url"; return 0; fi
  done
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql; fi
  say "starting the local PostgreSQL cluster"
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
  if [ -z "$version" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
    as_root pg_createcluster "$version" main >/dev/null
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  for _ in $(seq 100); do
    postgres_answers "$trust" && { export TEST_POSTGRES_URL="$trust"; return 0; }
    if as_root runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" \
        >/dev/null 2>&1 && postgres_answers "$password"; then
      export TEST_POSTGRES_URL="$password"; return 0
    fi
    sleep 0.2
  done
  echo "PostgreSQL did not start" >&2; exit 1
}

# The browser tests' JavaScript packages (axe-core for the accessibility checks), pinned by
# tests/browser/package-lock.json and installed with `npm ci` into tests/browser/node_modules
# (ignored by git); nothing is done while the installed copy matches the lock file.
ensure_browser_packages() {
  local dir="$ROOT/tests/browser"
  local stamp="$dir/node_modules/.installed-lock"
  local digest
  digest="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && return 0
  command -v npm >/dev/null || apt_install npm
  say "installing the browser tests' packages (npm ci in tests/browser)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$digest" > "$stamp"
}
