#!/usr/bin/env bash
# Install the test dependencies (idempotent) and run lint, type checks and the test suite.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh -k stream -x         # extra arguments go to pytest
#
# For a fresh Debian machine with Python 3.11 and Node 20. It creates .venv, installs the
# package with its test extras, installs Debian's chromium (browser tests) and the Claude Code
# CLI (end-to-end test, into the git-ignored .tools/claude), then runs ruff, mypy and pytest.
# With CI set, nothing that needs a missing tool is skipped: those tests fail instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CLAUDE_CODE_VERSION=2.1.329
CLAUDE_PREFIX=.tools/claude
STAMP=.venv/.test-deps

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Python environment and test dependencies (re-installed only when pyproject.toml changes).
if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    "${PYTHON:-$(command -v python3.11 || command -v python3)}" -m venv .venv
fi
deps_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$deps_hash" ]; then
    log "installing the package and its test dependencies"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    echo "$deps_hash" > "$STAMP"
fi

# 2. Chromium for the dashboard browser tests (Playwright drives the Debian build).
if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium (apt)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

# 3. The Claude Code CLI for the end-to-end test, pinned, project-local.
claude_pkg="$CLAUDE_PREFIX/node_modules/@anthropic-ai/claude-code/package.json"
installed=$(node -p "require('./$claude_pkg').version" 2>/dev/null || true)
if [ "$installed" != "$CLAUDE_CODE_VERSION" ] || ! "$CLAUDE_PREFIX/node_modules/.bin/claude" --version >/dev/null 2>&1; then
    log "installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION into $CLAUDE_PREFIX"
    mkdir -p "$CLAUDE_PREFIX"
    npm install --prefix "$CLAUDE_PREFIX" --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
    if ! "$CLAUDE_PREFIX/node_modules/.bin/claude" --version >/dev/null 2>&1; then
        # npm may have skipped the postinstall that puts the native binary in place.
        (cd "$CLAUDE_PREFIX/node_modules/@anthropic-ai/claude-code" && node install.cjs)
    fi
    "$CLAUDE_PREFIX/node_modules/.bin/claude" --version >/dev/null
fi

# 4. Lint, types, tests: all three run; the exit status is non-zero if any of them failed.
failed=()
log "ruff check"
.venv/bin/ruff check . || failed+=(ruff)
log "mypy"
.venv/bin/mypy || failed+=(mypy)
log "pytest"
.venv/bin/python -m pytest "$@" || failed+=(pytest)

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all checks passed"
