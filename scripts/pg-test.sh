#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the tests (issue 15): initdb and
# pg_ctl as an unprivileged user in a new temporary directory, listening
# only on a Unix socket in that directory (listen_addresses = ''), fsync on
# (the default), a database "ticketgate"; stopped and removed on exit.
#
#   scripts/pg-test.sh                  prints the URL, serves until Ctrl-C
#   scripts/pg-test.sh -- COMMAND...    runs COMMAND with the server up and
#                                       exits with COMMAND's status
#
# COMMAND's environment: TG_TEST_PG_URL (libpq URL of the "ticketgate"
# database as its superuser, e.g.
# postgresql:///ticketgate?host=/tmp/tg-pg-XXXX&user=tg), TG_TEST_PG_CTL
# (a script taking stop [fast|immediate] | start | restart: what a test of
# a database outage calls; "stop immediate" is a crash). When no
# PostgreSQL is installed or it does not start, COMMAND still runs, with
# TG_TEST_PG_SKIP set to the reason and no TG_TEST_PG_URL: the PostgreSQL
# tests then print one skip line and exit 77 (ctest's SKIP_RETURN_CODE),
# the others run as always. Tests that share the server each create a
# database of their own in it.
#
# Run as root (CI, containers), the server runs as the "postgres" user the
# Debian package creates (TG_TEST_PG_OSUSER names another), which is given
# the temporary directory; as any other user, as that user. PostgreSQL's
# binaries are looked for in $TG_TEST_PG_BIN, then /usr/lib/postgresql/*/bin
# (the highest version), then PATH. TG_TEST_PG_GLIBC_TUNABLES is the
# server's GLIBC_TUNABLES (default below; empty: glibc's defaults).
set -euo pipefail

cmd=()
if [ $# -gt 0 ]; then
    if [ "$1" != "--" ] || [ $# -lt 2 ]; then
        echo "usage: scripts/pg-test.sh [-- COMMAND [ARGS...]]" >&2
        exit 2
    fi
    shift
    cmd=("$@")
fi

# Without a server: run COMMAND anyway (its PostgreSQL tests skip), or fail.
unavailable() { # REASON
    echo "pg-test: PostgreSQL unavailable: $1" >&2
    if [ ${#cmd[@]} -eq 0 ]; then exit 1; fi
    unset TG_TEST_PG_URL TG_TEST_PG_CTL
    export TG_TEST_PG_SKIP="$1"
    exec "${cmd[@]}"
}

bindir=${TG_TEST_PG_BIN:-}
if [ -z "$bindir" ]; then
    # shellcheck disable=SC2012 # version directories: plain names
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
    bindir=$(dirname "$(command -v initdb)")
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
    unavailable "no initdb/pg_ctl (install the Debian package postgresql: scripts/install-deps.sh)"
fi

# The OS user the server runs as; PostgreSQL refuses to run as root.
as=()
if [ "$(id -u)" -eq 0 ]; then
    osuser=${TG_TEST_PG_OSUSER:-postgres}
    id "$osuser" >/dev/null 2>&1 || unavailable "running as root and there is no user '$osuser' to run the server as"
    command -v runuser >/dev/null 2>&1 || unavailable "running as root and runuser is missing"
    as=(runuser -u "$osuser" --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/tg-pg-XXXXXX")
if [ ${#as[@]} -gt 0 ]; then
    chown "$osuser" "$dir"
fi
chmod 700 "$dir"
data=$dir/data
log=$dir/server.log
dbuser=tg

# glibc's allocator in the server's processes: keep up to 4 MiB of freed
# heap and grow it 1 MiB at a time, instead of giving the heap's top back
# after each transaction and faulting it in again with the next (perf of
# the backends under bench/pg_bench.sh: brk and those page faults were
# about a sixth of their CPU, 1.1-2 faults a record). The same setting as
# docker/compose.postgresql.yaml's PostgreSQL service; docker/README.md,
# "glibc's allocator in the database's processes". TG_TEST_PG_GLIBC_TUNABLES=
# (empty) runs it with glibc's defaults, whatever the caller's environment.
tunables=${TG_TEST_PG_GLIBC_TUNABLES-glibc.malloc.trim_threshold=4194304:glibc.malloc.top_pad=1048576}
srvenv=(env -u GLIBC_TUNABLES)
if [ -n "$tunables" ]; then
    srvenv=(env "GLIBC_TUNABLES=$tunables")
fi
printf -v srvenv_q '%q ' "${srvenv[@]}"

# The control script a test calls to stop or start the server mid-run.
ctl=$dir/ctl
# shellcheck disable=SC2016 # "$1" and "$0" are the control script's own
{
    echo '#!/bin/sh'
    echo '# stop [fast|immediate] | start | restart the test server of scripts/pg-test.sh'
    printf 'case "$1" in\n'
    printf '  stop) exec %s %q -D %q -m "${2:-fast}" -w stop ;;\n' "${as[*]}" "$bindir/pg_ctl" "$data"
    printf '  start|restart) exec %s %s%q -D %q -l %q -w -t 60 "$1" ;;\n' "${as[*]}" "$srvenv_q" "$bindir/pg_ctl" "$data" "$log"
    printf '  *) echo "usage: $0 stop|start|restart" >&2; exit 2 ;;\n'
    printf 'esac\n'
} > "$ctl"
chmod 755 "$ctl"

started=0
sleeper=
cleanup() {
    [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
    if [ "$started" = 1 ]; then
        "${as[@]}" "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "${as[@]}" "$bindir/initdb" -D "$data" -U "$dbuser" --auth=trust \
        --encoding=UTF8 --locale=C -N >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    cleanup; trap - EXIT
    unavailable "initdb failed (log above)"
fi
# Only the socket in this private directory; fsync as the default (on);
# room for 4 replicas' pools and the tests' own connections.
cat >> "$data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
unix_socket_permissions = 0770
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
EOF

if ! "${as[@]}" "${srvenv[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
    cat "$log" >&2 2>/dev/null || true
    cleanup; trap - EXIT
    unavailable "pg_ctl start failed (log above)"
fi
started=1
# The socket's directory must be reachable by the caller (e.g. a non-root
# test run when the server's user differs: not our case, but say so).
"${as[@]}" "$bindir/createdb" -h "$dir" -U "$dbuser" ticketgate

export TG_TEST_PG_URL="postgresql:///ticketgate?host=$dir&user=$dbuser"
export TG_TEST_PG_CTL=$ctl
unset TG_TEST_PG_SKIP
echo "pg-test: PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') at $TG_TEST_PG_URL"

if [ ${#cmd[@]} -eq 0 ]; then
    echo "pg-test: control: $ctl stop|start|restart; Ctrl-C stops and removes it"
    while :; do sleep 3600 & sleeper=$!; wait "$sleeper" || true; done
fi
rc=0
"${cmd[@]}" || rc=$?
exit "$rc"
