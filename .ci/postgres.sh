#!/usr/bin/env bash
# Sourced by .ci/run: a private, throw-away PostgreSQL cluster for the tests marked
# `postgres`. Installs PostgreSQL with apt-get if it is missing (Debian/Ubuntu), runs the
# cluster as a non-root user on 127.0.0.1 and a free port with its data under a temp dir,
# exports SEALDOG_TEST_POSTGRES_URL, and stops the cluster when the CI shell exits.
# If the server cannot be installed or started this fails loudly (non-zero return), since
# the PostgreSQL storage tests are part of CI.

_sealdog_pg_fail() {
    echo "postgres.sh: $*" >&2
    if [ -n "${_SEALDOG_PG_DIR:-}" ] && [ -f "$_SEALDOG_PG_DIR/server.log" ]; then
        echo "---- PostgreSQL log ----" >&2
        cat "$_SEALDOG_PG_DIR/server.log" >&2
    fi
    return 1
}

_sealdog_pg_bindir() {
    local initdb
    initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$initdb" ]; then
        dirname "$initdb"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

_sealdog_pg_start() {
    local bindir run_as port url
    bindir="$(_sealdog_pg_bindir)"
    if [ -z "$bindir" ]; then
        echo "postgres.sh: PostgreSQL not found; installing it with apt-get" >&2
        command -v apt-get >/dev/null 2>&1 || { _sealdog_pg_fail "no PostgreSQL and no apt-get"; return 1; }
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq || { _sealdog_pg_fail "apt-get update failed"; return 1; }
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            postgresql >/dev/null || { _sealdog_pg_fail "apt-get install postgresql failed"; return 1; }
        bindir="$(_sealdog_pg_bindir)"
        [ -n "$bindir" ] || { _sealdog_pg_fail "PostgreSQL installed but initdb not found"; return 1; }
    fi

    _SEALDOG_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sealdog-pg.XXXXXX")"
    # PostgreSQL refuses to run as root: use the `postgres` system user when we are root.
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres \
            || { _sealdog_pg_fail "cannot create a postgres user"; return 1; }
        run_as=(runuser -u postgres --)
        chown postgres "$_SEALDOG_PG_DIR"
    else
        run_as=()
    fi
    chmod 700 "$_SEALDOG_PG_DIR"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

    "${run_as[@]}" "$bindir/initdb" -D "$_SEALDOG_PG_DIR/data" -U sealdog --auth=trust \
        -E UTF8 --locale=C >"$_SEALDOG_PG_DIR/initdb.log" 2>&1 \
        || { cat "$_SEALDOG_PG_DIR/initdb.log" >&2; _sealdog_pg_fail "initdb failed"; return 1; }
    "${run_as[@]}" "$bindir/pg_ctl" -D "$_SEALDOG_PG_DIR/data" -l "$_SEALDOG_PG_DIR/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $_SEALDOG_PG_DIR -c fsync=off" start >/dev/null \
        || { _sealdog_pg_fail "pg_ctl start failed"; return 1; }
    _SEALDOG_PG_STOP="${run_as[*]} $bindir/pg_ctl -D $_SEALDOG_PG_DIR/data -m fast -w stop"
    trap '$_SEALDOG_PG_STOP >/dev/null 2>&1 || true; rm -rf "$_SEALDOG_PG_DIR"' EXIT

    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U sealdog sealdog_test \
        || { _sealdog_pg_fail "createdb failed"; return 1; }
    url="postgresql+psycopg://sealdog@127.0.0.1:$port/sealdog_test"
    export SEALDOG_TEST_POSTGRES_URL="$url"
    echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

_sealdog_pg_start
