#!/usr/bin/env bash
# Starts the machine's PostgreSQL if it is not running, and makes sure the
# role and database the tests use exist (idempotent: safe to run again).
#
# Prints one line on stdout, the base URL the PostgreSQL tests read from
# NAILGUN_TEST_POSTGRES_URL (they create and drop a database per test):
#
#   export NAILGUN_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"
#
# Everything else goes to stderr. Settings (environment): NAILGUN_PG_USER,
# NAILGUN_PG_PASSWORD, NAILGUN_PG_DATABASE (default nailgun for all three).
set -euo pipefail

user="${NAILGUN_PG_USER:-nailgun}"
password="${NAILGUN_PG_PASSWORD:-nailgun}"
database="${NAILGUN_PG_DATABASE:-nailgun}"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# Runs a command as the postgres system user (peer authentication).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    sudo -n -u postgres -- "$@"
  fi
}
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n -- "$@"; fi
}

if ! command -v pg_lsclusters >/dev/null; then
  log "PostgreSQL is not installed: installing Debian's postgresql package"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >&2
fi

# The first cluster Debian knows (e.g. "15 main 5432 down ..."); create one if there is none.
cluster="$(pg_lsclusters --no-header | head -n1 || true)"
if [ -z "$cluster" ]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
  log "no PostgreSQL cluster: creating $version/main"
  as_root pg_createcluster "$version" main >&2
  cluster="$(pg_lsclusters --no-header | head -n1)"
fi
read -r version name port status _ <<<"$cluster"

if [ "$status" != "online" ]; then
  log "starting PostgreSQL $version/$name on port $port"
  as_root pg_ctlcluster "$version" "$name" start >&2
fi
for _ in $(seq 1 60); do
  if pg_isready -q -h 127.0.0.1 -p "$port"; then break; fi
  sleep 0.5
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
  log "Cannot start PostgreSQL $version/$name: not accepting connections on 127.0.0.1:$port after 30 s"
  exit 1
fi

# The role (with CREATEDB, so that tests can make a database each) and its database.
as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres \
  -v user="$user" -v password="$password" -v database="$database" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN CREATEDB PASSWORD :'password';
-- DROP DATABASE ... WITH (FORCE) of a test database must be able to end an
-- autovacuum worker in it, which runs as the superuser.
GRANT pg_signal_backend TO :"user";
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
-- Databases that crashed tests left behind (tests/_postgres/database.ts names
-- them nailgun_test_*), once they are an hour old.
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
  WHERE datname LIKE 'nailgun\_test\_%'
    AND (pg_stat_file(format('base/%s/PG_VERSION', oid))).modification < now() - interval '1 hour' \gexec
SQL

log "ready: PostgreSQL $version/$name on 127.0.0.1:$port, role \"$user\", database \"$database\""
printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$user" "$password" "$port" "$database"
