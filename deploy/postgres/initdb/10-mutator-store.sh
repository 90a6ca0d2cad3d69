#!/bin/sh
# Creates the Mutator store's own role and database next to Temporal's databases.
#
# The postgres image runs this once, when it initializes an empty data volume
# (/docker-entrypoint-initdb.d). It is idempotent, so you can also run it by hand against an
# existing server:
#   docker-compose exec postgresql sh /docker-entrypoint-initdb.d/10-mutator-store.sh
#
# Reads MUTATOR_DB_USER, MUTATOR_DB_PASSWORD, MUTATOR_DB_NAME (defaults mutator/mutator/mutator)
# and the image's POSTGRES_USER / POSTGRES_DB to connect as the superuser.
set -eu

: "${MUTATOR_DB_USER:=mutator}"
: "${MUTATOR_DB_PASSWORD:=mutator}"
: "${MUTATOR_DB_NAME:=mutator}"

psql -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
    --set=mutator_user="$MUTATOR_DB_USER" \
    --set=mutator_password="$MUTATOR_DB_PASSWORD" \
    --set=mutator_db="$MUTATOR_DB_NAME" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'mutator_user', :'mutator_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'mutator_user')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'mutator_db', :'mutator_user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'mutator_db')
\gexec
-- Only the store's role (and superusers) may connect to the store's database.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'mutator_db')
\gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'mutator_db', :'mutator_user')
\gexec
EOSQL

echo "mutator store: database ${MUTATOR_DB_NAME} owned by role ${MUTATOR_DB_USER} is ready"
