"""Model ids -> deployments: which profile and which model file answer each served id.

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
  target, or an alias that would shadow a built-in id, is a ``ConfigError`` naming it.

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


@dataclass(frozen=True, slots=True)
class Deployment:
    """What serves one model id: its profile and the GGUF file the engine loads."""

    profile: ModelProfile
    model_file: Path


class Catalog:
    """The served model ids, in a stable order: the built-in table, then the aliases."""

    def __init__(self, deployments: Mapping[str, Deployment]) -> None:
        self._deployments: Mapping[str, Deployment] = MappingProxyType(dict(deployments))

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        say: Callable[[str], None],
        fetch_starter: bool = True,
    ) -> Catalog:
        """Resolve every served id to a deployment; may fetch the starter model (saying so)."""
        _check_config(settings)
        files: dict[str | None, Path] = {}

        def file_for(spec: str | None) -> Path:
            if spec not in files:
                files[spec] = resolve_model_file(
                    spec, settings.home, fetch_starter=fetch_starter, say=say
                )
            return files[spec]

        default = settings.engine.model
        deployments: dict[str, Deployment] = {}
        for model_id, profile in BUILTIN_PROFILES.items():
            override = settings.models.get(model_id)
            spec = override.file if override is not None and override.file else default
            deployments[model_id] = Deployment(profile, file_for(spec))
        for name, target in settings.aliases.items():
            served = deployments[target]
            deployments[name] = Deployment(
                dataclasses.replace(served.profile, id=name), served.model_file
            )
        return cls(deployments)

    def resolve(self, model_id: str) -> Deployment:
        """The deployment of a served id; ``ModelNotFound`` (HTTP 404) otherwise."""
        try:
            return self._deployments[model_id]
        except KeyError:
            raise ModelNotFound(model_id) from None

    def ids(self) -> list[str]:
        """Every served id, aliases included, in a stable order."""
        return list(self._deployments)

    def model_files(self) -> list[Path]:
        """The distinct model files, in first-use order, so each is loaded once."""
        return list(dict.fromkeys(d.model_file for d in self._deployments.values()))

    def describe(self) -> list[tuple[str, Path]]:
        """``(id, model file)`` for every served id, for the startup log and ``/models``."""
        return [(model_id, d.model_file) for model_id, d in self._deployments.items()]


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
