#!/bin/sh
# Regenerates the captured-session fixtures in this folder by running real
# clients (psql, pgbench) through the recording proxy (examples/pg_record.rs)
# against the local PostgreSQL (127.0.0.1:5432, user postgres, trust).
# Run from native/limen-wire: sh tests/data/record.sh
set -eu
here=tests/data
db=limen_wire_fixture
export PGHOST=127.0.0.1 PGUSER=postgres PGSSLMODE=disable PGGSSENCMODE=disable
psql -qAtc "DROP DATABASE IF EXISTS $db" postgres
psql -qAtc "CREATE DATABASE $db" postgres
pgbench -q -i -s 1 "$db" >/dev/null 2>&1
cargo build -q --example pg_record

record() { # name connections command...
    name=$1; n=$2; shift 2
    fifo=$(mktemp -u); mkfifo "$fifo"
    ../../target/debug/examples/pg_record "$here/$name" "$n" >"$fifo" &
    pid=$!
    read -r port <"$fifo"; rm -f "$fifo"
    PGPORT=$port "$@" >/dev/null 2>&1 || true
    wait "$pid"
}

record psql_simple 1 psql -X -d "$db" -f "$here/session.sql"
record pgbench_extended 2 pgbench -n -S -t 5 -M extended "$db"
record pgbench_prepared 2 pgbench -n -S -t 5 -M prepared "$db"
psql -qAtc "DROP DATABASE IF EXISTS $db" postgres
ls -l "$here"/*.bin
