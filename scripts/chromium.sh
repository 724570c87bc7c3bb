#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser tests (tests/web drive it headless
# through Playwright, never with browsers `playwright install` downloads) and print the
# absolute path of its executable; nothing else goes to stdout. Idempotent.
#   scripts/chromium.sh            -> prints the executable's path
set -euo pipefail

if ! command -v chromium >/dev/null; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    # apt-get's progress goes to stderr: stdout carries the path alone.
    apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >&2; }

    echo "chromium: installing chromium..." >&2
    apt_get install --no-install-recommends chromium \
        || { apt_get update && apt_get install --no-install-recommends chromium; }
fi

# -s keeps Debian's launcher (/usr/bin/chromium, a script) rather than resolving links past it.
realpath -s "$(type -P chromium)"
