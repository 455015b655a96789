#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/browser) when /usr/bin/chromium is missing.
# Idempotent, and instant once it is installed. Always exits 0: when apt cannot install it, the
# browser tests skip and say why.
set -u

[ -x /usr/bin/chromium ] && exit 0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium.sh: no apt-get here; install chromium at /usr/bin/chromium for the browser tests" >&2
    exit 0
fi

if as_root apt-get update -q \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; then
    echo "ensure_chromium.sh: installed $(/usr/bin/chromium --version 2>/dev/null)"
else
    echo "ensure_chromium.sh: could not install chromium with apt; the browser tests will be skipped" >&2
fi
exit 0
