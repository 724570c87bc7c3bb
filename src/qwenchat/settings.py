"""Typed, frozen settings from a TOML file and ``QWENCHAT_*`` environment variables.

Every key is optional: defaults make ``qwenchat serve`` work with no file. Unknown keys are
errors that name the key. Precedence, lowest first: defaults, the TOML file, the environment,
then command-line options (applied by the CLI through :func:`Settings.with_overrides`).

File shape::

    [server]
    host = "127.0.0.1"
    port = 8000
    max_body_mb = 6          # request body cap (DashScope's: 6 MiB), 400 beyond it
    body_timeout = 60        # seconds a request body may take to arrive
    header_timeout = 10      # seconds a request's headers may take to arrive
    keep_alive_timeout = 5   # seconds an idle connection is kept open
    max_connections = 512    # open connections; more are answered 503 and closed
    docs = false             # /docs and /openapi.json

    [engine]
    model = "starter"        # GGUF path, a known alias (qwen3-4b, ...), "starter", or
                             # "none" (serve only the ids deployments map)
    context_size = 8192      # tokens per request (each slot holds this much KV cache)
    threads = 0              # 0 = pick from the core count
    batch_size = 512
    max_queue = 64
    slots = 0                # sequences decoded together; 0 = from the core count
    request_timeout = 600    # seconds a request may take, queue included; 0 = no limit
    prefix_cache = "exact"   # reuse earlier prompts' KV cache: "exact" | "full" | "off"
    host_cache_mb = 2048     # host memory keeping caches evicted from slots; 0 = none
    flash_attention = false  # faster; outputs then depend on what shares a batch
    stall_timeout = 120      # seconds one engine step may take before the server restarts
    default_system_prompt = "You are a helpful assistant."  # "" = none

    [gateway]
    auth = "auto"            # "auto" (keys once one exists or when not on loopback),
                             # "required", or "none" (loopback only, unless forced)
    allow_public_without_auth = false  # force auth = "none" on a public address
    region = "local"         # keys made for another region are refused (401)
    database = ""            # SQLAlchemy URL of keys + usage ledger; "" = SQLite in home
    redis = ""               # redis://... to share rate limits between gateways
    admin_key = ""           # bearer token /metrics requires; "" = open
    key_rpm = 0              # default per-key, per-model limits; 0 = none
    key_tpm = 0
    key_max_in_flight = 32   # requests one key may have open at once; 0 = no cap
    key_cache_seconds = 1.0  # how long a key lookup is reused (revocation delay)

    [models."qwen3-max"]     # serve this id from another model file, and/or limit it
    file = "qwen3-4b"
    rpm = 600                # model-wide limits, all keys together; 0 = none
    tpm = 1000000

    [aliases]
    qwen = "qwen3.6-plus"    # extra id answering as an existing one

    [deployments.gpu]        # OpenAI-compatible upstream replicas (docs/upstreams.md)
    dialect = "vllm"         # "vllm" | "sglang" | "llama-server" | "dashscope" | "openai"
    replicas = ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1"]
    api_key_env = "VLLM_API_KEY"  # the variable holding the upstream's key
    connect_timeout = 5.0    # seconds; first_byte_timeout, idle_timeout: 120
    health_interval = 5.0
    allow_search = false     # pass enable_search on (dialect "dashscope" only)
    [deployments.gpu.models] # served id -> the upstream's model name
    "qwen3.6-plus" = "Qwen/Qwen3-32B"
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qwenchat.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    """Where the HTTP server listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "info"
    playground: bool = True  # the web playground at /
    max_body_mb: int = Field(default=6, ge=1)  # DashScope refuses bodies over 6 MiB
    body_timeout: float = Field(default=60.0, gt=0)
    header_timeout: float = Field(default=10.0, gt=0)
    keep_alive_timeout: int = Field(default=5, ge=1)
    max_connections: int = Field(default=512, ge=1)  # kept under the open-file limit
    docs: bool = False  # /docs and /openapi.json


class EngineSettings(_Section):
    """The embedded llama.cpp engine."""

    model: str | None = None  # None: the best pulled Qwen model, else the starter
    context_size: int = Field(default=8192, ge=256)
    threads: int = Field(default=0, ge=0)  # 0: chosen from the core count
    batch_size: int = Field(default=512, ge=16)
    max_queue: int = Field(default=64, ge=1)
    slots: int = Field(default=0, ge=0, le=64)  # 0: chosen from the core count
    request_timeout: float = Field(default=600.0, ge=0)  # 0: no limit
    prefix_cache: Literal["exact", "full", "off"] = "exact"
    host_cache_mb: int = Field(default=2048, ge=0)
    flash_attention: bool = False
    stall_timeout: float = Field(default=120.0, ge=0)  # 0: no watchdog
    default_system_prompt: str = "You are a helpful assistant."


class GatewaySettings(_Section):
    """Keys, rate limits, usage ledger and metrics."""

    auth: Literal["auto", "required", "none"] = "auto"
    allow_public_without_auth: bool = False
    region: str = "local"
    database: str = ""  # "": sqlite:///<home>/qwenchat.db
    redis: str = ""  # "": rate-limit counters in process
    admin_key: str = ""
    key_rpm: int = Field(default=0, ge=0)
    key_tpm: int = Field(default=0, ge=0)
    # half the default engine queue (64): one key cannot fill every slot and the whole queue
    key_max_in_flight: int = Field(default=32, ge=0)
    key_cache_seconds: float = Field(default=1.0, ge=0)


class ModelOverride(_Section):
    """One model id's own settings: another model file, model-wide rate limits."""

    file: str | None = None  # None: the engine's model
    rpm: int = Field(default=0, ge=0)  # all keys together; 0 = no limit
    tpm: int = Field(default=0, ge=0)


class UpstreamDeployment(_Section):
    """OpenAI-compatible servers (vLLM, SGLang, llama-server, DashScope) serving some ids."""

    kind: Literal["openai"] = "openai"
    dialect: Literal["vllm", "sglang", "llama-server", "dashscope", "openai"] = "openai"
    replicas: list[str] = Field(min_length=1)  # base URLs, e.g. http://10.0.0.5:8000/v1
    api_key_env: str = ""  # the variable holding the upstream's key; "": none
    models: dict[str, str] = Field(min_length=1)  # served id -> the upstream's model name
    connect_timeout: float = Field(default=5.0, gt=0)
    first_byte_timeout: float = Field(default=120.0, gt=0)
    idle_timeout: float = Field(default=120.0, gt=0)
    health_interval: float = Field(default=5.0, gt=0)
    allow_search: bool = False  # pass enable_search on to a DashScope upstream


class Settings(_Section):
    """The effective configuration of one qwenchat process."""

    server: ServerSettings = ServerSettings()
    engine: EngineSettings = EngineSettings()
    gateway: GatewaySettings = GatewaySettings()
    models: dict[str, ModelOverride] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    deployments: dict[str, UpstreamDeployment] = Field(default_factory=dict)
    home: Path = Field(default_factory=lambda: default_home())

    @classmethod
    def load(cls, path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
        """Read ``path`` (if given), then apply ``QWENCHAT_*`` variables from ``env``."""
        data: dict[str, Any] = {}
        if path is not None:
            data = _read_toml(path)
        environ = os.environ if env is None else env
        _apply_env(data, environ)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, path)) from exc

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """A copy with keys replaced per section (``None`` values are skipped)."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section].update({k: v for k, v in values.items() if v is not None})
        try:
            return Settings.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, None)) from exc

    def database_url(self) -> str:
        """The SQLAlchemy URL of the keys and usage database."""
        return self.gateway.database or f"sqlite:///{self.home / 'qwenchat.db'}"

    def to_toml(self) -> str:
        """The effective settings as TOML text (for ``--print-config``); secrets masked."""
        lines: list[str] = [f'home = "{self.home}"', ""]
        for name in ("server", "engine", "gateway"):
            lines.append(f"[{name}]")
            for key, value in getattr(self, name).model_dump().items():
                if key == "admin_key" and value:
                    value = "***"
                elif key in ("database", "redis"):
                    value = _URL_PASSWORD.sub(r"\1***@", value)
                if value is not None:
                    lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        for model_id, override in self.models.items():
            lines.append(f'[models."{model_id}"]')
            lines += [f"{key} = {_toml_value(value)}"
                      for key, value in override.model_dump().items() if value is not None]
            lines.append("")
        if self.aliases:
            lines.append("[aliases]")
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in self.aliases.items()]
            lines.append("")
        for name, deployment in self.deployments.items():
            lines.append(f"[deployments.{name}]")
            for key, value in deployment.model_dump(exclude={"models"}).items():
                if key == "replicas":
                    value = [url_for_display(url) for url in value]
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append(f"[deployments.{name}.models]")
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in deployment.models.items()]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"


_ENV_KEYS: dict[str, tuple[str, ...]] = {
    "QWENCHAT_HOST": ("server", "host"),
    "QWENCHAT_PORT": ("server", "port"),
    "QWENCHAT_LOG_LEVEL": ("server", "log_level"),
    "QWENCHAT_PLAYGROUND": ("server", "playground"),
    "QWENCHAT_MAX_BODY_MB": ("server", "max_body_mb"),
    "QWENCHAT_BODY_TIMEOUT": ("server", "body_timeout"),
    "QWENCHAT_HEADER_TIMEOUT": ("server", "header_timeout"),
    "QWENCHAT_KEEP_ALIVE_TIMEOUT": ("server", "keep_alive_timeout"),
    "QWENCHAT_MAX_CONNECTIONS": ("server", "max_connections"),
    "QWENCHAT_DOCS": ("server", "docs"),
    "QWENCHAT_MODEL": ("engine", "model"),
    "QWENCHAT_CONTEXT_SIZE": ("engine", "context_size"),
    "QWENCHAT_THREADS": ("engine", "threads"),
    "QWENCHAT_BATCH_SIZE": ("engine", "batch_size"),
    "QWENCHAT_MAX_QUEUE": ("engine", "max_queue"),
    "QWENCHAT_SLOTS": ("engine", "slots"),
    "QWENCHAT_REQUEST_TIMEOUT": ("engine", "request_timeout"),
    "QWENCHAT_PREFIX_CACHE": ("engine", "prefix_cache"),
    "QWENCHAT_HOST_CACHE_MB": ("engine", "host_cache_mb"),
    "QWENCHAT_FLASH_ATTENTION": ("engine", "flash_attention"),
    "QWENCHAT_STALL_TIMEOUT": ("engine", "stall_timeout"),
    "QWENCHAT_AUTH": ("gateway", "auth"),
    "QWENCHAT_ALLOW_PUBLIC_WITHOUT_AUTH": ("gateway", "allow_public_without_auth"),
    "QWENCHAT_REGION": ("gateway", "region"),
    "QWENCHAT_DATABASE_URL": ("gateway", "database"),
    "QWENCHAT_REDIS_URL": ("gateway", "redis"),
    "QWENCHAT_ADMIN_KEY": ("gateway", "admin_key"),
    "QWENCHAT_KEY_RPM": ("gateway", "key_rpm"),
    "QWENCHAT_KEY_TPM": ("gateway", "key_tpm"),
    "QWENCHAT_KEY_MAX_IN_FLIGHT": ("gateway", "key_max_in_flight"),
    "QWENCHAT_KEY_CACHE_SECONDS": ("gateway", "key_cache_seconds"),
    "QWENCHAT_HOME": ("home",),
}

# The password of a database or Redis URL, masked by --print-config.
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
# The user information (``user:password@``) of a URL's authority.
_URL_USERINFO = re.compile(r"^([^:/?#]+://)[^/?#]*@")


def url_for_display(url: str) -> str:
    """``url`` with any credentials in it (``http://user:secret@host``) shown as ``***``:
    how replica URLs appear in logs, /health, /metrics and ``--print-config``."""
    return _URL_USERINFO.sub(r"\1***@", url)


def default_home(env: dict[str, str] | None = None) -> Path:
    """The user directory: ``$QWENCHAT_HOME``, else ``~/.qwenchat``."""
    environ = os.environ if env is None else env
    value = environ.get("QWENCHAT_HOME")
    return Path(value).expanduser() if value else Path.home() / ".qwenchat"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from exc


def _apply_env(data: dict[str, Any], environ: os._Environ[str] | dict[str, str]) -> None:
    for variable, keys in _ENV_KEYS.items():
        if variable in environ:
            target = data
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = environ[variable]


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path is not None else ""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'")
        else:
            problems.append(f"'{key}': {error['msg']}")
    return f"Invalid configuration{where}: " + "; ".join(problems)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
