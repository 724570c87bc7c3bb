"""The playground's HTTP side: ``/`` serves the page with a strict Content-Security-Policy,
``/playground/`` every asset the page and its modules load (revalidated, ``nosniff``, with
the right types), and ``--no-playground`` / ``QWENCHAT_PLAYGROUND`` turn it off while the
API serves on. The page itself is tested in a browser in tests/web/."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from harness.qwenchat import ServerProcess, sdk

from qwenchat.settings import Settings

TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def page_assets(base: str, html: str) -> set[str]:
    """Every asset the page names, and every module its scripts import, transitively."""
    found = {f"{base}/{path}" for path in re.findall(r'(?:src|href)="(playground/[^"]+)"', html)}
    pending = [url for url in found if url.endswith(".js")]
    while pending:
        url = pending.pop()
        source = httpx.get(url).text
        for name in re.findall(r'(?:from|import\()\s*"\./([\w-]+\.js)"', source):
            module = url.rsplit("/", 1)[0] + "/" + name
            if module not in found:
                found.add(module)
                pending.append(module)
    return found


def test_the_page_and_everything_it_loads(server: ServerProcess) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    for rule in ("default-src 'none'", "script-src 'self'", "connect-src 'self'",
                 "frame-ancestors 'none'"):
        assert rule in policy
    assert "unsafe" not in policy
    assert page.headers["cache-control"] == "no-cache"
    assert httpx.head(f"{server.url}/").status_code == 200

    assets = page_assets(server.url, page.text)
    names = {url.rsplit("/", 1)[1] for url in assets}
    assert {"app.js", "app.css", "vendor.js", "api.js", "view.js", "render.js"} <= names
    for url in assets:
        response = httpx.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(TYPES[Path(url).suffix]), url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-security-policy"] == policy
        if len(response.content) > 1000:  # httpx asks for gzip and decodes it
            assert response.headers["content-encoding"] == "gzip", url
        again = httpx.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304  # revalidation is cheap


def test_a_missing_asset_is_a_404_envelope(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/playground/nothing.js")
    assert response.status_code == 404
    assert "error" in response.json()


def test_the_playground_can_be_turned_off(starter_model: Path, tmp_path: Path) -> None:
    with ServerProcess(["--model", str(starter_model), "--threads", "1", "--no-playground"],
                       tmp_path, tmp_path / "server.log") as proc:
        for path in ("/", "/playground/app.js"):
            response = httpx.get(f"{proc.url}{path}")
            assert response.status_code == 404
            assert response.json()["error"]["code"]
        with sdk(proc.url) as client:
            assert client.models.list().data  # the API serves on


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("true", True)])
def test_playground_setting_from_the_environment(value: str, expected: bool) -> None:
    settings = Settings.load(env={"QWENCHAT_PLAYGROUND": value})
    assert settings.server.playground is expected
