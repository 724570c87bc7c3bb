"""The model cache folder, and sha256 checks of model files remembered so each is hashed once.

qwenchat's own model files (the starter model) live in ``<home>/models``; Qwen GGUF builds
live in the standard Hugging Face cache. Either way a file is hashed in full once, and the
result is stamped in ``<home>/models/.verified/<sha256>`` with the file's resolved path, size
and modification time. Later checks compare those three with ``stat()`` (as make and rsync
do) and hash again only when one changed, so ``serve`` does not read gigabytes on every
start. A stamp is only a cache: deleting ``.verified`` costs one more hash per file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_sha256(text: str) -> bool:
    """Whether ``text`` looks like a hex sha256 digest (the hub's ETag of an LFS file)."""
    return len(text) == 64 and all(char in "0123456789abcdef" for char in text)


def model_cache_dir(home: Path) -> Path:
    """The folder of qwenchat's own model files: ``<home>/models``."""
    return home / "models"


def stamp_dir(home: Path) -> Path:
    return model_cache_dir(home) / ".verified"


def is_stamped(path: Path, sha256: str, home: Path) -> bool:
    """Whether ``path`` was verified against ``sha256`` and has not changed since."""
    try:
        recorded = (stamp_dir(home) / sha256).read_text(encoding="utf-8")
        return recorded == _fingerprint(path)
    except OSError:
        return False


def stamp(path: Path, sha256: str, home: Path) -> None:
    """Remember that ``path`` (as it is now) has the content ``sha256``."""
    directory = stamp_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{sha256}.{os.getpid()}.tmp"
    temporary.write_text(_fingerprint(path), encoding="utf-8")
    os.replace(temporary, directory / sha256)


def forget(sha256: str, home: Path) -> None:
    (stamp_dir(home) / sha256).unlink(missing_ok=True)


def verify(
    path: Path, sha256: str, home: Path, *, say: Callable[[str], None] | None = None
) -> bool:
    """Whether ``path`` has the content ``sha256``: by its stamp, else by hashing it.

    A file that hashes right is stamped; one that does not loses any stamp it had.
    """
    if is_stamped(path, sha256, home):
        return True
    if say is not None:
        say(f"Checking the sha256 of {path} ...")
    if sha256_of(path) == sha256:
        stamp(path, sha256, home)
        return True
    forget(sha256, home)
    return False


def _fingerprint(path: Path) -> str:
    resolved = path.resolve()
    info = resolved.stat()
    return f"{resolved}\n{info.st_size} {info.st_mtime_ns}\n"
