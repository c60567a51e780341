#!/usr/bin/env bash
# A throwaway three-member etcd cluster on loopback, for the tests of
# tally-store-etcd and for trying the store by hand.
#
#   eval "$(crates/tally-store-etcd/tests/etcd-cluster.sh start)"
#   cargo test -p tally-store-etcd
#   crates/tally-store-etcd/tests/etcd-cluster.sh stop "$TALLY_ETCD_DIR"
#
# `start` makes a temporary directory and starts three members in it, each
# with its own data directory and log, on 127.0.0.1: client ports
# TALLY_ETCD_PORT, +2 and +4 (default 52379, 52381, 52383), peer ports one
# above each (or the next free block of six ports). It waits until the
# cluster has a leader and prints the variables the tests read:
#   TALLY_ETCD_ENDPOINTS  127.0.0.1:PORT,127.0.0.1:PORT,127.0.0.1:PORT
#   TALLY_ETCD_DIR        the directory, for `stop`
# `stop DIR` kills those members and removes the directory.
#
# The members run with raised request limits (ETCD_LIMIT_FLAGS below), the
# ones tally_store_etcd::EtcdLimits::RAISED declares and the conformance kit
# needs (its largest batches are 259 writes and 17 MiB): etcd's defaults,
# 128 operations and 1.5 MiB per transaction, are below them. History is
# compacted automatically, so repeated runs do not fill the backend quota.
#
# Needs the etcd binary (Debian: apt-get install etcd-server; ETCD_BIN
# overrides where it is looked for).
set -euo pipefail

ETCD_LIMIT_FLAGS=(--max-txn-ops=1024 --max-request-bytes=33554432)

die() { echo "etcd-cluster.sh: $*" >&2; exit 1; }

# True when the member at client port $1 answers /health with "true" (it
# has a leader). Plain bash: no HTTP client needed.
member_is_healthy() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        timeout 2 cat <&3 | grep -q '"health":"true"'
    ) 2>/dev/null
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

block_is_free() {
    local port
    for port in $(seq "$1" $(($1 + 5))); do
        port_is_free "$port" || return 1
    done
}

etcd_bin() {
    if [ -n "${ETCD_BIN:-}" ]; then echo "$ETCD_BIN"; return; fi
    command -v etcd 2>/dev/null || die "no etcd binary: apt-get install etcd-server, or set ETCD_BIN"
}

start() {
    local bin dir base tries=0
    bin=$(etcd_bin)
    base=${TALLY_ETCD_PORT:-52379}
    until block_is_free "$base"; do
        tries=$((tries + 1))
        [ "$tries" -lt 20 ] || die "no six free ports from ${TALLY_ETCD_PORT:-52379} on"
        base=$((base + 6))
    done
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tally-etcd.XXXXXX")
    # A start that fails part way leaves nothing behind.
    trap 'stop "$dir"' EXIT

    local cluster="" endpoints="" i client peer
    for i in 0 1 2; do
        peer=$((base + 2 * i + 1))
        cluster="${cluster:+$cluster,}m$i=http://127.0.0.1:$peer"
    done
    for i in 0 1 2; do
        client=$((base + 2 * i))
        peer=$((client + 1))
        endpoints="${endpoints:+$endpoints,}127.0.0.1:$client"
        # setsid: the members outlive this script and ignore the caller's ^C.
        setsid "$bin" --name "m$i" --data-dir "$dir/m$i" \
            --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
            --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
            --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "tally-$base" \
            "${ETCD_LIMIT_FLAGS[@]}" \
            --auto-compaction-mode=revision --auto-compaction-retention=10000 \
            --logger=zap --log-outputs="$dir/m$i.log" \
            </dev/null >/dev/null 2>&1 &
        echo $! >"$dir/m$i.pid"
    done

    # Healthy means: every member answers and the cluster has a leader.
    local waited=0 healthy
    while :; do
        healthy=0
        for i in 0 1 2; do
            client=$((base + 2 * i))
            if member_is_healthy "$client"; then
                healthy=$((healthy + 1))
            fi
        done
        [ "$healthy" = 3 ] && break
        waited=$((waited + 1))
        if [ "$waited" -ge 60 ]; then
            for i in 0 1 2; do tail -n 20 "$dir/m$i.log" >&2 || true; done
            die "the cluster did not become healthy within 30 s"
        fi
        sleep 0.5
    done

    trap - EXIT
    echo "export TALLY_ETCD_ENDPOINTS='$endpoints'"
    echo "export TALLY_ETCD_DIR='$dir'"
}

stop() {
    local dir=${1:-} pid i
    [ -n "$dir" ] || die "usage: etcd-cluster.sh stop DIR"
    case "$dir" in
        "${TMPDIR:-/tmp}"/tally-etcd.*) ;;
        *) die "refusing to remove $dir: not a directory this script made" ;;
    esac
    [ -d "$dir" ] || return 0
    for i in 0 1 2; do
        if [ -f "$dir/m$i.pid" ]; then
            pid=$(cat "$dir/m$i.pid")
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    for i in 0 1 2; do
        if [ -f "$dir/m$i.pid" ]; then
            pid=$(cat "$dir/m$i.pid")
            # Wait (at most 5 s) until it is gone, so its ports are free again.
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) die "usage: etcd-cluster.sh start | stop DIR" ;;
esac
