#!/usr/bin/env bash
# Install what the site's browser test needs: Debian's chromium and the playwright
# Python package that drives it. Playwright's own browser download (`playwright install`)
# is never run: the test launches the system chromium through `executable_path`.
# Idempotent: does nothing when both are already present.
set -euo pipefail

PYTHON="${PYTHON:-.venv/bin/python}"

find_chromium() {
    command -v chromium || command -v chromium-browser || true
}

if [ -z "$(find_chromium)" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install_browser.sh: chromium is not on PATH and apt-get is unavailable;" \
            "install Chromium with your system's package manager." >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "install_browser.sh: installing Debian's chromium with apt-get"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null
fi

if [ -z "$(find_chromium)" ]; then
    echo "install_browser.sh: chromium still not on PATH after installing it" >&2
    exit 1
fi

if ! "$PYTHON" -c "import playwright" >/dev/null 2>&1; then
    echo "install_browser.sh: installing playwright into $PYTHON's environment"
    "$PYTHON" -m pip install --quiet "playwright>=1.40"
fi

echo "install_browser.sh: chromium at $(find_chromium); playwright ready"
