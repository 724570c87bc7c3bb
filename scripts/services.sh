#!/usr/bin/env bash
# Make sure what the tests start themselves is installed: redis-server, the PostgreSQL
# server binaries (/usr/lib/postgresql/*/bin) and chromium (the browser tests drive Debian's
# build headless through Playwright, never browsers `playwright install` downloads). Missing
# ones are installed from Debian's apt packages; the system services the server packages
# start are stopped and disabled, since the tests run their own throw-away instances
# (harness/services.py). Idempotent.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

echo "services: installing ${missing[*]}..." >&2
apt_get install --no-install-recommends "${missing[@]}" \
    || { apt_get update && apt_get install --no-install-recommends "${missing[@]}"; }

for service in "${missing[@]}"; do
    [ "$service" = chromium ] && continue  # a browser runs no system service
    "${SUDO[@]}" systemctl disable --now "$service" >/dev/null 2>&1 \
        || "${SUDO[@]}" service "$service" stop >/dev/null 2>&1 || true
done
