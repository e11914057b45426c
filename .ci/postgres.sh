#!/usr/bin/env bash
# Starts a private PostgreSQL server for the tests (installed from Debian's packages if missing) on
# loopback, and prints the URL the tests read from ADJACENT_TEST_POSTGRES. Usage:
#   eval "$(bash .ci/postgres.sh start DIR)"    # exports ADJACENT_TEST_POSTGRES
#   bash .ci/postgres.sh stop DIR
set -euo pipefail
action=${1:?start or stop}
dir=${2:?a folder for the server data}
password=adjacent

# The first free port from 55432 on (another server may hold one).
free_port() {
    local p
    for p in $(seq 55432 55482); do
        if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo "no free port in 55432-55482" >&2
    exit 1
}

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

case "$action" in
start)
    if [ -z "$(pg_bin)" ]; then
        echo "installing PostgreSQL (Debian package postgresql)" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin=$(pg_bin)
    [ -n "$bin" ] || { echo "PostgreSQL is not installed and could not be" >&2; exit 1; }
    port=${ADJACENT_PG_PORT:-$(free_port)}
    # The server refuses to run as root: it runs as the postgres user the package creates.
    run_as=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        run_as=(runuser -u postgres --)
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    pwfile="$dir/.pw"
    echo "$password" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 \
            --pwfile="$pwfile" >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >&2 \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export ADJACENT_TEST_POSTGRES=postgres://postgres:$password@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(pg_bin)
    run_as=()
    [ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
