#!/usr/bin/env bash
# Builds and checks Lathe's web UI (services/gateway/ui), whose built files are committed and
# embedded into the `lathe` binary.
#
#   scripts/ui.sh deps    `npm ci` (the build's tools, and playwright-core for the browser tests)
#   scripts/ui.sh build   write openapi.json from `lathe openapi`, `npm ci`, `npm run build`
#                         (generate the API types, type-check, bundle into dist/)
#   scripts/ui.sh check   build, then fail if dist/, openapi.json or the generated types differ
#                         from what is committed (a change in the API that breaks the UI fails
#                         the type-check inside the build)
#
# `lathe openapi` runs as `cargo run -p lathe`, or as $LATHE_BIN when set (the test command
# passes the binary its test build made, so nothing is compiled twice).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UI="services/gateway/ui"
GENERATED=("$UI/dist" "$UI/openapi.json" "$UI/src/api/schema.d.ts")

die() { echo "ui.sh: ERROR: $*" >&2; exit 1; }

deps() {
    cd "$ROOT"
    command -v npm >/dev/null || die "npm is not installed (the UI needs Node.js 20 or later)"
    echo "==> npm ci in $UI"
    (cd "$UI" && npm ci --no-audit --no-fund --loglevel=error)
}

build() {
    deps
    echo "==> openapi.json from \`lathe openapi\`"
    local doc
    doc="$(mktemp)"
    if [[ -n "${LATHE_BIN:-}" ]]; then
        "$LATHE_BIN" openapi >"$doc" || { rm -f "$doc"; die "\`$LATHE_BIN openapi\` failed"; }
    else
        cargo run -q -p lathe -- openapi >"$doc" || { rm -f "$doc"; die "\`lathe openapi\` failed"; }
    fi
    mv "$doc" "$UI/openapi.json"
    echo "==> npm run build"
    (cd "$UI" && npm run build --silent)
}

check() {
    build
    cd "$ROOT"
    echo "==> compare the built UI with the committed one"
    local changed untracked
    changed="$(git diff --name-only -- "${GENERATED[@]}")"
    untracked="$(git ls-files --others --exclude-standard -- "${GENERATED[@]}")"
    if [[ -n "$changed" || -n "$untracked" ]]; then
        {
            echo "ui.sh: the built UI differs from the committed one:"
            [[ -z "$changed" ]] || printf '  changed:   %s\n' $changed
            [[ -z "$untracked" ]] || printf '  untracked: %s\n' $untracked
            echo "run \`scripts/ui.sh build\` and commit services/gateway/ui"
        } >&2
        exit 1
    fi
    echo "ui.sh: the committed UI is up to date"
}

case "${1:-}" in
    deps) deps ;;
    build) build ;;
    check) check ;;
    *) echo "usage: scripts/ui.sh deps|build|check" >&2; exit 2 ;;
esac
