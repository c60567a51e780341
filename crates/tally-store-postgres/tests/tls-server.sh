#!/usr/bin/env bash
# A throwaway PostgreSQL cluster that accepts TLS connections only, for the
# TLS tests of tally-store-postgres (tests/tls.rs).
#
#   eval "$(crates/tally-store-postgres/tests/tls-server.sh start)"
#   cargo test -p tally-store-postgres --test tls
#   crates/tally-store-postgres/tests/tls-server.sh stop "$TALLY_PG_TLS_DIR"
#
# `start` makes a temporary directory with a fresh CA, a server certificate
# for 127.0.0.1 and localhost signed by it, and a new cluster whose pg_hba
# has only `hostssl` lines (so plaintext TCP connections are refused); it
# starts the server on 127.0.0.1 (port TALLY_PG_TLS_PORT, default 55432, or
# the next free one) and prints the variables the tests read:
#   TALLY_PG_TLS_URL  postgres://postgres@127.0.0.1:PORT/postgres
#   TALLY_PG_TLS_CA   the CA certificate (PEM)
#   TALLY_PG_TLS_DIR  the directory, for `stop`
# `stop DIR` stops that server and removes the directory.
#
# Needs the PostgreSQL server binaries (initdb, pg_ctl; PG_BINDIR overrides
# where they are looked for) and the openssl command. initdb refuses to run
# as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail

die() { echo "tls-server.sh: $*" >&2; exit 1; }

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then echo "$newest"; return; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    die "no initdb found: install the PostgreSQL server, or set PG_BINDIR"
}

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    command -v openssl >/dev/null 2>&1 || die "the openssl command is needed to make the certificates"
    local bindir dir port
    bindir=$(find_bindir)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tally-pg-tls.XXXXXX")
    chmod 755 "$dir"
    # A start that fails part way leaves nothing behind.
    trap 'stop "$dir"' EXIT

    # A CA, and a server certificate it signs, valid for 127.0.0.1 and localhost.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 -subj "/CN=tally throwaway test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        >/dev/null 2>&1 || die "openssl could not make the CA"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost" \
        >/dev/null 2>&1 || die "openssl could not make the server key"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" \
        >/dev/null 2>&1 || die "openssl could not sign the server certificate"
    rm -f "$dir/ca.key" "$dir/server.csr" "$dir/ca.srl" "$dir/server.ext"
    chmod 600 "$dir/server.key"
    chmod 644 "$dir/ca.crt" "$dir/server.crt"

    port=${TALLY_PG_TLS_PORT:-55432}
    local tries=0
    until port_is_free "$port"; do
        tries=$((tries + 1))
        [ "$tries" -lt 20 ] || die "no free port from ${TALLY_PG_TLS_PORT:-55432} on"
        port=$((port + 1))
    done

    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to own the cluster"
        chown -R postgres: "$dir"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
max_connections = 60
shared_buffers = 16MB
# Throwaway data: no need to survive a power cut.
fsync = off
synchronous_commit = off
EOF
    # TLS only: no `host` line, so a plaintext TCP connection finds no entry.
    cat >"$dir/data/pg_hba.conf" <<EOF
local   all all               trust
hostssl all all 127.0.0.1/32  trust
EOF
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log" >&2; die "the server did not start"; }

    trap - EXIT
    echo "export TALLY_PG_TLS_URL='postgres://postgres@127.0.0.1:$port/postgres'"
    echo "export TALLY_PG_TLS_CA='$dir/ca.crt'"
    echo "export TALLY_PG_TLS_DIR='$dir'"
}

stop() {
    local dir=${1:-}
    [ -n "$dir" ] || die "usage: tls-server.sh stop DIR"
    case "$dir" in
        "${TMPDIR:-/tmp}"/tally-pg-tls.*) ;;
        *) die "refusing to remove $dir: not a directory this script made" ;;
    esac
    [ -d "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$(find_bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) die "usage: tls-server.sh start | stop DIR" ;;
esac
