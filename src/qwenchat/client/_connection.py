"""Where the client connects and with which key: regions, environment, a ``.env`` file.

Base URL, first match wins:

1. the ``base_url`` argument (``--base-url``), then the ``region`` argument (``--region``);
2. ``QWEN_BASE_URL``, then ``QWEN_REGION`` from the environment;
3. the same two names in the ``.env`` file (the current directory's by default);
4. region ``beijing``, DashScope's default.

API key, first match wins: the ``api_key`` argument (``--api-key``), then
``DASHSCOPE_API_KEY``, ``QWEN_API_KEY``, ``QWENCLOUD_API_KEY`` from the environment, then the
same names in the ``.env`` file. Region ``local`` (a ``qwenchat serve`` on this machine) and any
base URL on a loopback host need no key (``sk-local`` is sent). A remote endpoint without a key
is a usage error that says where to put one. DashScope keys are per region.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from qwenchat.client._errors import EXIT_USAGE, ClientError

REGIONS: dict[str, str] = {
    "beijing": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "singapore": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "virginia": "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
    "hongkong": "https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1",
    "local": "http://127.0.0.1:8000/compatible-mode/v1",
}
DEFAULT_REGION = "beijing"
LOCAL_KEY = "sk-local"
KEY_VARIABLES = ("DASHSCOPE_API_KEY", "QWEN_API_KEY", "QWENCLOUD_API_KEY")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


@dataclass(frozen=True, slots=True)
class Connection:
    """An endpoint and its key; ``region`` is None for a base URL that is no known region."""

    base_url: str
    api_key: str
    region: str | None


def resolve_connection(*, base_url: str | None = None, api_key: str | None = None,
                       region: str | None = None, env: Mapping[str, str] | None = None,
                       dotenv_path: Path | None = None) -> Connection:
    """The connection from arguments, environment and ``.env``, by the precedence above."""
    environ = os.environ if env is None else env
    dotenv = read_dotenv(Path(".env") if dotenv_path is None else dotenv_path)
    layers = (environ, dotenv)
    url, region_name = _base_url(base_url, region, layers)
    key = api_key or _first(layers, KEY_VARIABLES)
    if not key:
        if region_name != "local" and not _is_loopback(url):
            raise ClientError(
                f"No API key for {region_name or url}: set DASHSCOPE_API_KEY (or QWEN_API_KEY, "
                "QWENCLOUD_API_KEY) in the environment or a .env file, or pass --api-key. "
                "Keys are per region: use one made for this region, or QWEN_REGION=local for a "
                "local `qwenchat serve`.", exit_code=EXIT_USAGE)
        key = LOCAL_KEY
    return Connection(base_url=url, api_key=key, region=region_name)


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (``export``, quotes, comments); {} if absent."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, IsADirectoryError):
        return {}
    values: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[name.strip()] = value
    return values


def _base_url(base_url: str | None, region: str | None,
              layers: tuple[Mapping[str, str], ...]) -> tuple[str, str | None]:
    if base_url:
        return _named(base_url.rstrip("/"))
    if region:
        return _region_url(region)
    for layer in layers:
        if layer.get("QWEN_BASE_URL"):
            return _named(layer["QWEN_BASE_URL"].rstrip("/"))
        if layer.get("QWEN_REGION"):
            return _region_url(layer["QWEN_REGION"])
    return _region_url(DEFAULT_REGION)


def _region_url(region: str) -> tuple[str, str]:
    name = region.strip().lower().replace("-", "").replace("_", "")
    if name not in REGIONS:
        raise ClientError(f"Unknown region {region!r}: choose one of {', '.join(REGIONS)} "
                          "(or set a base URL).", exit_code=EXIT_USAGE)
    return REGIONS[name], name


def _named(url: str) -> tuple[str, str | None]:
    region = next((name for name, known in REGIONS.items() if known == url), None)
    return url, region


def _first(layers: tuple[Mapping[str, str], ...], names: tuple[str, ...]) -> str | None:
    for layer in layers:
        for name in names:
            if layer.get(name):
                return layer[name]
    return None


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK
