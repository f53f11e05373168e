#!/bin/sh
# One database and one login role per service that keeps SQL state. The postgres image runs
# this once, on the first start of an empty data volume (/docker-entrypoint-initdb.d).
# Passwords come from the environment (<SERVICE>_DB_PASSWORD); DB_PREFIX names the
# databases and roles (<prefix>_<service>, default "briefings"). Re-running it is harmless.
set -eu

prefix="${DB_PREFIX:-briefings}"
for service in roster events awards reporting; do
  var="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$var" || true)"
  if [ -z "$password" ]; then
    echo "init-databases: $var is not set" >&2
    exit 1
  fi
  name="${prefix}_${service}"
  psql -v ON_ERROR_STOP=1 -v name="$name" -v password="$password" \
       --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'name', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SQL
  echo "init-databases: $name ready"
done
