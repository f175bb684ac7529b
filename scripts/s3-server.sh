#!/usr/bin/env bash
# The S3-compatible test server (s3rver, installed by scripts/install-tools.sh).
#
#   scripts/s3-server.sh start    start on 127.0.0.1:${LATHE_TEST_S3_PORT:-9100}, or reuse the
#                                 server already answering there; bucket lathe-test
#   scripts/s3-server.sh stop     stop the server this script started (pid in .tools/s3rver.pid)
#   scripts/s3-server.sh status   exit 0 if something answers HTTP on the port
#
# Path-style URLs: http://127.0.0.1:PORT/lathe-test/key. Keys: S3RVER / S3RVER.
# Data: .tools/s3-data, log: .tools/s3rver.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PORT="${LATHE_TEST_S3_PORT:-9100}"
HOST="127.0.0.1"
BUCKET="lathe-test"
BIN="$TOOLS/node/node_modules/.bin/s3rver"
DATA="$TOOLS/s3-data"
LOG="$TOOLS/s3rver.log"
PIDFILE="$TOOLS/s3rver.pid"
URL="http://$HOST:$PORT"
START_TIMEOUT_S=20

die() { echo "s3-server: ERROR: $*" >&2; exit 1; }

answers() { curl -s -o /dev/null --max-time 2 "$URL/"; }

# The pid in the pid file, if that process is alive and is an s3rver.
our_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q s3rver || return 1
    echo "$pid"
}

ensure_bucket() {
    # Unsigned path-style PUT; 200 = created, 409 = already there.
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "$URL/$BUCKET" || true)"
    case "$code" in
        200 | 409) ;;
        *) echo "s3-server: warning: could not ensure bucket $BUCKET on $URL (HTTP $code)" >&2 ;;
    esac
}

start() {
    if answers; then
        ensure_bucket
        echo "s3rver: reusing the server already answering on $URL"
        return 0
    fi
    [[ -x "$BIN" ]] || die "$BIN not found: run scripts/install-tools.sh first"
    mkdir -p "$DATA"
    nohup "$BIN" -a "$HOST" -p "$PORT" -d "$DATA" --configure-bucket "$BUCKET" \
        </dev/null >"$LOG" 2>&1 &
    local pid=$!
    echo "$pid" >"$PIDFILE"

    local deadline=$((SECONDS + START_TIMEOUT_S))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            echo "--- tail of $LOG ---" >&2
            tail -n 20 "$LOG" >&2 || true
            die "s3rver exited before answering on $URL"
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            echo "--- tail of $LOG ---" >&2
            tail -n 20 "$LOG" >&2 || true
            die "s3rver did not answer on $URL within ${START_TIMEOUT_S}s"
        fi
        sleep 0.3
    done
    echo "s3rver: started on $URL (pid $pid, bucket $BUCKET, log ${LOG#"$ROOT"/})"
}

stop() {
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PIDFILE"
        if answers; then
            echo "s3rver: the server on $URL was not started by this script; left running"
        else
            echo "s3rver: not running"
        fi
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    echo "s3rver: stopped (pid $pid)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if answers; then echo "s3rver: answering on $URL"; else echo "s3rver: nothing on $URL"; exit 1; fi
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
