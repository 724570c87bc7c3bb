"""The web playground: ``/`` serves its page and ``/playground/`` its static assets.

The assets are the files of the package's ``qwenchat/web`` folder (the third-party bundle,
``vendor.js``, is built there by ``scripts/web_assets.sh``); nothing is fetched from
elsewhere, so the page works offline. The page talks to the API with the browser's own
``fetch`` like any other client: it has no routes of its own and no privileges.

Every file is sent with ``Cache-Control: no-cache`` (revalidated by ETag, so an upgraded
server never mixes old scripts with a new page), ``nosniff``, a content type of our own for
the kinds the page loads (the platform's MIME table may call ``.js`` ``text/plain``, and
browsers refuse such module scripts), and a Content-Security-Policy that allows scripts,
styles and connections from this origin only, so model output rendered as HTML can neither
run nor load anything. Assets are gzipped for clients that accept it (a phone on a slow
link loads the page in a third of the bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"

_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'")
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class _Assets(StaticFiles):
    """Static files with the playground's headers and content types."""

    def file_response(self, full_path: Any, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(full_path, *args, **kwargs)
        response.headers.update(_HEADERS)
        kind = _TYPES.get(Path(full_path).suffix)
        if kind is not None:
            response.headers["content-type"] = kind
        return response


def install_playground(app: FastAPI) -> None:
    """Serve the playground page at ``/`` and its assets under ``/playground/``."""
    # gzip for the assets only (vendor.js: 220 KB, about 75 KB compressed), never the API
    app.mount("/playground", GZipMiddleware(_Assets(directory=WEB), compresslevel=6),
              name="playground")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> Response:
        return FileResponse(WEB / "index.html", headers=_HEADERS, media_type=_TYPES[".html"])
