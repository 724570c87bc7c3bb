"""Model ids -> routes: which profile, and which model file or upstream deployment, answer
each served id.

Built from :class:`~qwenchat.settings.Settings`:

* every id of the built-in table (:data:`~qwenchat.catalog.table.BUILTIN_PROFILES`) is
  served, by default from the one model file ``engine.model`` names (see
  :func:`~qwenchat.catalog.files.resolve_model_file`);
* ``[models."<id>"] file = "..."`` serves that id from another file or alias. The id must be
  in the built-in table: qwenchat cannot guess a profile (thinking mode, limits) for an id it
  does not know, and a typo such as ``qwen3-mx`` would otherwise silently add a new model
  instead of remapping ``qwen3-max``; it is a ``ConfigError`` naming the id. To answer to a
  new name, add an alias;
* ``[aliases] name = "<id>"`` adds ``name`` as an extra id with the target's profile (its
  ``id`` replaced by ``name``) and file. The target must be a built-in id; an unknown
  target, or an alias that would shadow a built-in id, is a ``ConfigError`` naming it;
* ``[deployments.<name>.models] "<id>" = "<upstream model>"`` serves that built-in id from
  an OpenAI-compatible upstream instead (an id mapped twice, or also given a ``file``, is a
  ``ConfigError``);
* ``engine.model = "none"`` serves no id locally: only the ids the deployments map.

Each distinct spec is resolved once, so the service loads each file once
(:meth:`Catalog.model_files`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from qwenchat.catalog.files import resolve_model_file
from qwenchat.catalog.table import BUILTIN_PROFILES
from qwenchat.core import ModelProfile
from qwenchat.errors import ConfigError, ModelNotFound
from qwenchat.settings import Settings

NO_LOCAL_MODEL = "none"


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    """A model of an upstream deployment: the deployment's name and the model's own name."""

    deployment: str
    model: str


@dataclass(frozen=True, slots=True)
class Route:
    """Where one served model id goes: its profile, and the GGUF file the engine loads or
    the model of an upstream deployment (exactly one of the two)."""

    profile: ModelProfile
    model_file: Path | None = None
    upstream: UpstreamModel | None = None

    @property
    def name(self) -> str:
        """What answers, for model cards' ``root`` and the usage ledger."""
        if self.upstream is not None:
            return f"{self.upstream.deployment}:{self.upstream.model}"
        return self.model_file.name if self.model_file is not None else ""


class Catalog:
    """The served model ids, in a stable order: the built-in table, then the aliases."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self._routes: Mapping[str, Route] = MappingProxyType(dict(routes))

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        say: Callable[[str], None],
        fetch_starter: bool = True,
    ) -> Catalog:
        """Resolve every served id to a route; may fetch the starter model (saying so)."""
        _check_config(settings)
        files: dict[str | None, Path] = {}

        def file_for(spec: str | None) -> Path:
            if spec not in files:
                files[spec] = resolve_model_file(
                    spec, settings.home, fetch_starter=fetch_starter, say=say
                )
            return files[spec]

        default = settings.engine.model
        upstream = _upstream_models(settings)
        routes: dict[str, Route] = {}
        for model_id, profile in BUILTIN_PROFILES.items():
            override = settings.models.get(model_id)
            spec = override.file if override is not None and override.file else default
            if model_id in upstream:
                routes[model_id] = Route(profile, upstream=upstream[model_id])
            elif spec != NO_LOCAL_MODEL:
                routes[model_id] = Route(profile, file_for(spec))
        for name, target in settings.aliases.items():
            if target not in routes:
                raise ConfigError(f"[aliases] {name} = \"{target}\": '{target}' is not served "
                                  "(engine.model is \"none\" and no deployment maps it).")
            served = routes[target]
            routes[name] = dataclasses.replace(
                served, profile=dataclasses.replace(served.profile, id=name))
        return cls(routes)

    def resolve(self, model_id: str) -> Route:
        """The route of a served id; ``ModelNotFound`` (HTTP 404) otherwise."""
        try:
            return self._routes[model_id]
        except KeyError:
            raise ModelNotFound(model_id) from None

    def ids(self) -> list[str]:
        """Every served id, aliases included, in a stable order."""
        return list(self._routes)

    def model_files(self) -> list[Path]:
        """The distinct model files, in first-use order, so each is loaded once."""
        return list(dict.fromkeys(r.model_file for r in self._routes.values()
                                  if r.model_file is not None))

    def upstream_deployments(self) -> list[str]:
        """The names of the upstream deployments that serve some id, in first-use order."""
        return list(dict.fromkeys(r.upstream.deployment for r in self._routes.values()
                                  if r.upstream is not None))

    def describe(self) -> list[tuple[str, str]]:
        """``(id, what answers)`` for every served id, for the startup log."""
        return [(model_id, str(r.model_file or r.name))
                for model_id, r in self._routes.items()]


def _upstream_models(settings: Settings) -> dict[str, UpstreamModel]:
    """Served id -> upstream model, from every deployment's ``models`` table."""
    mapped: dict[str, UpstreamModel] = {}
    for name, deployment in settings.deployments.items():
        for model_id, upstream_name in deployment.models.items():
            where = f"[deployments.{name}.models] \"{model_id}\""
            if model_id not in BUILTIN_PROFILES:
                raise ConfigError(f"{where}: '{model_id}' is not a built-in model id; map a "
                                  "built-in id and add a name under [aliases].")
            if model_id in mapped:
                raise ConfigError(f"{where}: '{model_id}' is already served by deployment "
                                  f"'{mapped[model_id].deployment}'.")
            override = settings.models.get(model_id)
            if override is not None and override.file:
                raise ConfigError(f"{where}: '{model_id}' also has a model file "
                                  f"([models.\"{model_id}\"] file).")
            mapped[model_id] = UpstreamModel(name, upstream_name)
    return mapped


def _check_config(settings: Settings) -> None:
    known = ", ".join(BUILTIN_PROFILES)
    for model_id in settings.models:
        if model_id not in BUILTIN_PROFILES:
            raise ConfigError(
                f"[models.\"{model_id}\"]: '{model_id}' is not a built-in model id "
                f"(known: {known}). To serve a new name, add it under [aliases]."
            )
    for name, target in settings.aliases.items():
        if name in BUILTIN_PROFILES:
            raise ConfigError(f"[aliases] {name}: '{name}' is already a built-in model id.")
        if target not in BUILTIN_PROFILES:
            raise ConfigError(
                f"[aliases] {name} = \"{target}\": '{target}' is not a built-in model id "
                f"(known: {known})."
            )
