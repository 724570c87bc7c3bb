"""Official Qwen3 GGUF builds, fetched through huggingface_hub into the standard HF cache.

``pull_qwen`` calls ``hf_hub_download`` with no cache folder of its own, so the files land
where every Hugging Face tool finds them (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or
``~/.cache/huggingface/hub``), with huggingface_hub's progress bar. ``HF_ENDPOINT`` and
``HF_HUB_OFFLINE`` are honoured: huggingface_hub reads them when it is first imported, and
this module imports it lazily and also passes the values the environment has at call time,
so a late setting still counts and an earlier one is never overridden.

After a download the file is checked against its sha256: an LFS file's blob in the HF cache
is named by its ETag, which the hub sets to the file's sha256. A file that does not match is
removed. Looking a pulled file up (:func:`cached_qwen`) never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from qwenchat.catalog._cache import forget, is_sha256, verify
from qwenchat.errors import ModelFileError


@dataclass(frozen=True, slots=True)
class HubFile:
    """One GGUF file in a Hugging Face model repository."""

    alias: str
    repo_id: str
    filename: str
    approx_size: str  # for messages only; the hub's metadata is what gets checked


# The Qwen team's own GGUF repositories: Q8_0 is the only quantization published for 0.6B
# and 1.7B; for 4B, Q4_K_M (2,497,280,256 bytes) is the usual size/quality trade-off.
QWEN_FILES: Mapping[str, HubFile] = MappingProxyType(
    {
        spec.alias: spec
        for spec in (
            HubFile("qwen3-0.6b", "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf", "639 MB"),
            HubFile("qwen3-1.7b", "Qwen/Qwen3-1.7B-GGUF", "Qwen3-1.7B-Q8_0.gguf", "1.8 GB"),
            HubFile("qwen3-4b", "Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf", "2.5 GB"),
        )
    }
)

QWEN_PREFERENCE: tuple[str, ...] = ("qwen3-4b", "qwen3-1.7b", "qwen3-0.6b")
"""Qwen aliases from best to smallest: the default model is the first one pulled."""


def _quiet(message: str) -> None:
    """The default ``say``: print nothing."""


def cached_qwen(alias: str) -> Path | None:
    """The pulled file of a Qwen alias in the HF cache, or ``None``; never uses the network."""
    from huggingface_hub import try_to_load_from_cache

    spec = _spec(alias)
    found = try_to_load_from_cache(spec.repo_id, spec.filename)
    return Path(found) if isinstance(found, str) else None


def is_intact(path: Path, home: Path, *, say: Callable[[str], None] | None = None) -> bool:
    """Whether a file from the HF cache matches the sha256 its blob is named by.

    A file whose name is not a sha256 (a non-LFS file, or a cache without symlinks) has no
    digest to check against; huggingface_hub has already checked its size.
    """
    etag = path.resolve().name
    return not is_sha256(etag) or verify(path, etag, home, say=say)


def pull_qwen(alias: str, home: Path, *, say: Callable[[str], None] = _quiet) -> Path:
    """Download (or find up to date in the HF cache) a Qwen GGUF build; returns its path.

    Raises ``ModelFileError`` when the hub cannot be reached and the file is not cached, or
    when the file does not match its sha256 (the bad file is removed). A cached copy that
    fails the check is removed and downloaded once more.
    """
    spec = _spec(alias)
    was_cached = cached_qwen(alias) is not None
    path = _download(spec, say)
    if is_intact(path, home, say=say):
        return path
    _discard(path, home)
    if was_cached:
        say(f"The cached {spec.filename} failed its sha256 check; downloading it again.")
        path = _download(spec, say)
        if is_intact(path, home, say=say):
            return path
        _discard(path, home)
    raise ModelFileError(
        f"{spec.repo_id}/{spec.filename} does not match its sha256 (the hub's ETag); the "
        f"download was removed. Run `qwenchat pull {alias}` to try again."
    )


def _spec(alias: str) -> HubFile:
    try:
        return QWEN_FILES[alias]
    except KeyError:
        known = ", ".join(QWEN_FILES)
        raise ModelFileError(f"Unknown Qwen model '{alias}'; known: {known}.") from None


def _download(spec: HubFile, say: Callable[[str], None]) -> Path:
    from huggingface_hub import constants, hf_hub_download

    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    offline = constants.HF_HUB_OFFLINE or _is_true(os.environ.get("HF_HUB_OFFLINE"))
    if offline:
        say(f"Looking up {spec.filename} in the Hugging Face cache (HF_HUB_OFFLINE is set) ...")
    else:
        say(f"Fetching {spec.filename} ({spec.approx_size}) from {endpoint}/{spec.repo_id} ...")
    try:
        found = hf_hub_download(
            spec.repo_id, spec.filename, endpoint=endpoint, local_files_only=offline
        )
    # huggingface_hub raises from several HTTP stacks (requests, httpx, httpx2) across its
    # versions; whatever stops the download, the user gets one ModelFileError with the cause.
    except Exception as exc:
        raise ModelFileError(_describe_failure(spec, endpoint, offline, exc)) from exc
    if not isinstance(found, str):  # only a dry run returns anything else
        raise ModelFileError(f"huggingface_hub returned no file for {spec.filename}.")
    return Path(found)


def _describe_failure(spec: HubFile, endpoint: str, offline: bool, exc: Exception) -> str:
    where = f"{spec.repo_id}/{spec.filename}"
    if offline:
        return (
            f"{where} is not in the Hugging Face cache and HF_HUB_OFFLINE is set, so it "
            f"cannot be downloaded."
        )
    return f"Could not download {where} from {endpoint}: {exc}"


def _discard(path: Path, home: Path) -> None:
    """Remove a bad file from the HF cache: its snapshot entry and the blob behind it."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)
    if is_sha256(blob.name):
        forget(blob.name, home)


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().upper() in {"1", "ON", "YES", "TRUE"}
