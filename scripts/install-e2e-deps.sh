#!/usr/bin/env bash
# Install what the end-to-end suite (tests/e2e) needs beyond the virtualenv's test extras:
# Debian's Chromium (a browser download by Playwright is impossible here) and fonts so the
# screenshots show text, plus Playwright's Python package if the virtualenv lacks it.
# Idempotent: each step runs only when its result is missing. Usage: scripts/install-e2e-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
CHROMIUM=/usr/bin/chromium
APT_PACKAGES=(chromium fonts-liberation fonts-dejavu-core)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "error: ${missing[*]} not installed; as root run: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be stale or absent on a fresh machine: refresh once, then install.
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi
"$CHROMIUM" --version 2>/dev/null  # its wrapper script prints a harmless shell warning

# Playwright's Python package normally comes with the test extras (make install); this covers a
# virtualenv made before it was added there. Its browser download (`playwright install`) is never
# run: the tests drive /usr/bin/chromium.
if [ -x "$VENV/bin/python" ]; then
    if ! "$VENV/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
        "$VENV/bin/pip" install --quiet "playwright>=1.45"
    fi
    "$VENV/bin/python" -c "from importlib.metadata import version; print('playwright', version('playwright'))"
else
    echo "no virtualenv at $VENV yet: 'make install' brings playwright with the test extras"
fi
