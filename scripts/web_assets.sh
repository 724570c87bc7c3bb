#!/usr/bin/env bash
# Build the playground's third-party bundle, src/qwenchat/web/vendor.js (outside git), from
# the pinned npm packages of scripts/web/ with esbuild. The packages are installed once per
# lockfile into $QWENCHAT_WEB_CACHE (default ~/.cache/qwenchat/web); a bundle already built
# from the same recipe is kept. Prints the packages' node_modules folder on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

recipe=(scripts/web/package.json scripts/web/package-lock.json scripts/web/vendor.js)
digest=$(cat "${recipe[@]}" | sha256sum | cut -c1-16)
cache="${QWENCHAT_WEB_CACHE:-$HOME/.cache/qwenchat/web}/$digest"
bundle=src/qwenchat/web/vendor.js
banner="/* qwenchat playground vendor bundle $digest */"

if [ ! -x "$cache/node_modules/.bin/esbuild" ]; then
    command -v npm >/dev/null || { echo "web_assets: npm is needed to build $bundle" >&2; exit 1; }
    echo "web_assets: installing the playground's npm packages (once)..." >&2
    rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
    cp "${recipe[@]}" "$cache.tmp/"
    npm ci --prefix "$cache.tmp" --no-audit --no-fund --loglevel=error >&2
    rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
if [ "$(head -n 1 "$bundle" 2>/dev/null)" != "$banner" ]; then
    cp scripts/web/vendor.js "$cache/vendor.js"
    "$cache/node_modules/.bin/esbuild" "$cache/vendor.js" --bundle --format=esm --minify \
        --target=es2020 --legal-comments=eof --banner:js="$banner" --log-level=warning \
        --outfile="$bundle" >&2
fi
echo "$cache/node_modules"
