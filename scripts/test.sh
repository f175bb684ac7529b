#!/usr/bin/env bash
# THE test command of Lathe: ./scripts/test.sh (CI runs it through .ci/run).
#
# Installs the test tools, starts/checks the real backends (PostgreSQL, Redis, S3), then runs
# rustfmt, clippy and the whole test suite with cargo-nextest (the web UI's browser tests
# among them), and checks the web UI's committed build. Tests get their backends from
# the LATHE_TEST_* variables below, and LATHE_TEST_REQUIRE_BACKENDS=1 makes a missing backend
# a test failure, never a skip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

START_SECONDS=$SECONDS
S3_STARTED_HERE=0

step() { printf '\n==> %s\n' "$*"; }
die() { echo "test.sh: ERROR: $*" >&2; exit 1; }

elapsed() {
    local s=$((SECONDS - START_SECONDS))
    printf '%dm%02ds' $((s / 60)) $((s % 60))
}

on_exit() {
    local rc=$?
    if [[ "$S3_STARTED_HERE" == 1 ]]; then
        "$ROOT/scripts/s3-server.sh" stop || true
    fi
    if [[ $rc -eq 0 ]]; then
        printf '\ntest.sh: all checks passed in %s\n' "$(elapsed)"
    else
        printf '\ntest.sh: FAILED (exit %d) after %s\n' "$rc" "$(elapsed)" >&2
    fi
    exit "$rc"
}
trap on_exit EXIT

# --- a. tools ----------------------------------------------------------------------------
step "test tools"
"$ROOT/scripts/install-tools.sh"

# --- b. S3 ----------------------------------------------------------------------------------
S3_PORT="${LATHE_TEST_S3_PORT:-9100}"
export LATHE_TEST_S3_PORT="$S3_PORT"
step "S3 (s3rver) on 127.0.0.1:$S3_PORT"
if ! "$ROOT/scripts/s3-server.sh" status >/dev/null 2>&1; then
    S3_STARTED_HERE=1
fi
"$ROOT/scripts/s3-server.sh" start

# --- c. PostgreSQL and Redis ----------------------------------------------------------------
PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres PG_DB=test
REDIS_HOST=127.0.0.1 REDIS_PORT=6379

pg_ok() {
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 2>/dev/null \
        && psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -w -tAc 'select 1' >/dev/null 2>&1
}
redis_ok() {
    [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
}
# wait_for CHECK SECONDS: poll CHECK every 0.5 s for at most SECONDS.
wait_for() {
    local check=$1 deadline=$((SECONDS + $2))
    until "$check"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

pg_server_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 2>/dev/null; }

step "PostgreSQL on $PG_HOST:$PG_PORT (user $PG_USER, db $PG_DB)"
if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
    die "pg_isready/psql not found: install Debian's postgresql-client"
fi
if ! pg_server_up; then
    echo "PostgreSQL is not answering; starting it"
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        for dir in /etc/postgresql/*/; do
            [[ -d "$dir" ]] || continue
            v="$(basename "$dir")"
            pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
        done
    else
        echo "pg_ctlcluster or /etc/postgresql not found: cannot start PostgreSQL here" >&2
    fi
    wait_for pg_server_up 20 || true
fi
if pg_server_up && ! pg_ok; then
    # The server answers but the test database may be missing.
    createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -w "$PG_DB" 2>/dev/null || true
fi
pg_ok || die "PostgreSQL is not usable at $PG_HOST:$PG_PORT (user $PG_USER, database $PG_DB).
  Start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start
  The tests need it (LATHE_TEST_REQUIRE_BACKENDS=1): they do not skip a missing backend."
echo "PostgreSQL: ok"

step "Redis on $REDIS_HOST:$REDIS_PORT"
command -v redis-cli >/dev/null || die "redis-cli not found: install Debian's redis-tools"
if ! redis_ok; then
    echo "Redis is not answering; starting it"
    if command -v redis-server >/dev/null; then
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    else
        echo "redis-server not found: cannot start Redis here" >&2
    fi
    wait_for redis_ok 20 || true
fi
redis_ok || die "Redis is not answering PONG at $REDIS_HOST:$REDIS_PORT.
  Start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  The tests need it (LATHE_TEST_REQUIRE_BACKENDS=1): they do not skip a missing backend."
echo "Redis: ok"

# --- d. what the tests read -------------------------------------------------------------------
export LATHE_TEST_PG_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
export LATHE_TEST_REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT"
export LATHE_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
export LATHE_TEST_S3_BUCKET="lathe-test"
export LATHE_TEST_S3_ACCESS_KEY="S3RVER"
export LATHE_TEST_S3_SECRET_KEY="S3RVER"
export LATHE_TEST_REQUIRE_BACKENDS=1

# (docker-compose.yml is checked by the test suite: tests/tests/dev_stack.rs.)

# --- e. lint and tests ------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found"

step "web UI's npm packages (scripts/ui.sh deps)"
"$ROOT/scripts/ui.sh" deps

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo machete (no unused dependencies)"
"$ROOT/.tools/cargo/bin/cargo-machete"

step "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    # Pinned: the newest release may need a newer Rust than the machine's.
    cargo install cargo-nextest@0.9.143 --locked
fi

step "cargo nextest run --workspace --locked --no-fail-fast"
cargo nextest run --workspace --locked --no-fail-fast

# The UI's committed build must be what its sources and the current API give; `lathe openapi`
# runs from the binary the tests just built.
step "web UI: rebuild and compare with the committed build (scripts/ui.sh check)"
LATHE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/lathe" "$ROOT/scripts/ui.sh" check
# Doc tests (cargo test --doc) are not run: nextest does not run them and the workspace has none.
