"""What a loopback server open without keys asks of a request, so that a web page of another
site cannot use it through the visitor's browser.

Without keys, the only thing that tells a local program from a page in the browser is the
request itself. A page may post a form or plain text to ``http://127.0.0.1:8000`` (a
"simple" cross-site request, sent without asking), and a page whose name it has re-pointed
at 127.0.0.1 (DNS rebinding) may even read the answers. So, on such a server:

* every API request must name a loopback host (``localhost``, ``127.0.0.1``, ``[::1]``, any
  port) in its ``Host`` header: 403 ``access_denied`` otherwise. A rebinding page sends its
  own site's name;
* a POST must say ``Content-Type: application/json``: 400 otherwise. A browser sends that
  type cross-site only after asking the server first (CORS), which this server never allows.

The official SDKs, ``curl -H "Content-Type: application/json"``, the CLI and the playground
send both. When keys are required the key is the defence and these checks are not made.
"""

from __future__ import annotations

from fastapi import Request

from qwenchat.errors import AccessDenied, InvalidBody
from qwenchat.gateway import is_loopback


def check_local_caller(request: Request, *, is_post: bool) -> None:
    """Refuse a request a browser page of another site could have sent (see above)."""
    host = request.headers.get("host", "")
    if not is_loopback(_host_name(host)):
        raise AccessDenied(
            f"Without an API key this server answers only requests addressed to localhost, "
            f"127.0.0.1 or [::1], not to '{host[:100]}'. Create a key (qwenchat keys "
            "create) to serve other names.")
    if is_post:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise InvalidBody("Content-Type must be application/json (curl: add "
                              "-H \"Content-Type: application/json\").")


def _host_name(host: str) -> str:
    """The name or address of a ``Host`` header, without its port and brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host
