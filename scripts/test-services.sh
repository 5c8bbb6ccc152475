#!/usr/bin/env bash
# Make sure the services the tests use are up on 127.0.0.1, idempotently: Redis on 6379 and
# PostgreSQL on 5432 with the pgvector extension available; and Debian's chromium, which renders the
# gateway dashboard in its test (that check is skipped, not failed, where it cannot be installed). pgvector is not packaged for Debian 12:
# it is built from Debian trixie's source package (~25 s) through a private apt configuration, so the
# machine's own apt sources are left untouched. Needs root for apt; without it, says what is missing.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_redis() {
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return
  command -v redis-server >/dev/null 2>&1 || \
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "Redis did not start" >&2; exit 1
}

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if ! pg_ready; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 100); do pg_ready && break; sleep 0.1; done
  fi
  pg_ready || { echo "PostgreSQL is not accepting connections on 127.0.0.1:5432" >&2; exit 1; }
}

has_pgvector() {
  [ -n "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'" 2>/dev/null)" ]
}

ensure_pgvector() {
  has_pgvector && return
  local major pg_config work
  major="$(psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SHOW server_version_num' | cut -c1-2)"
  pg_config="/usr/lib/postgresql/${major}/bin/pg_config"
  work="$(mktemp -d)"
  echo "Building pgvector for PostgreSQL ${major} from Debian trixie's source package..."
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-${major}" dpkg-dev >/dev/null
  mkdir -p "$work/apt/lists/partial" "$work/apt/sources.list.d" "$work/src"
  cat > "$work/apt/sources.list.d/trixie-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$work/apt/sources.list.d"
              -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o APT::Sandbox::User=root -qq)
  mkdir -p "$work/apt/cache/archives/partial"
  apt-get "${opts[@]}" update
  (cd "$work/src" && apt-get "${opts[@]}" source --download-only pgvector >/dev/null && dpkg-source -x --no-check ./pgvector_*.dsc pgvector >/dev/null)
  make -s -C "$work/src/pgvector" PG_CONFIG="$pg_config" >/dev/null 2>&1
  as_root make -s -C "$work/src/pgvector" PG_CONFIG="$pg_config" install >/dev/null
  rm -rf "$work"
  has_pgvector || { echo "pgvector did not install" >&2; exit 1; }
}

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return
  echo "Installing Debian's chromium for the dashboard's rendering test..."
  { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed: the dashboard's rendering check will be skipped" >&2
}

# The pinned wrangler/miniflare the Workers-bindings tests run a real Worker with (npm registry, ~15 s once;
# again only when the lock file changes). Without Node those tests skip and say so.
ensure_worker_tools() {
  local dir
  dir="$(dirname "$0")/../src/kumo/workers/node"
  command -v npm >/dev/null 2>&1 || { echo "npm not found: the Workers-bindings tests will be skipped" >&2; return; }
  [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && return
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

ensure_redis
ensure_postgres
ensure_pgvector
ensure_chromium
ensure_worker_tools
