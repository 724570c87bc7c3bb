"""Model files: Qwen GGUF pulls through the real ``hf_hub_download`` against a local fake hub,
resolving pulled aliases offline, the default-model choice, and GGUF paths / unknown names.

Everything that touches huggingface_hub runs in a fresh interpreter (see ``fake_hf_hub``),
because huggingface_hub reads ``HF_ENDPOINT`` / ``HF_HOME`` / ``HF_HUB_OFFLINE`` at import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.catalog.fake_hf_hub import (
    COMMIT,
    FakeHub,
    call,
    hub_env,
    run_python,
    serving,
    tiny_gguf,
)

from qwenchat.catalog import QWEN_FILES, resolve_model_file
from qwenchat.errors import ModelFileError

SMALL = QWEN_FILES["qwen3-0.6b"]
MEDIUM = QWEN_FILES["qwen3-1.7b"]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serving("qwen3-0.6b", "qwen3-1.7b") as fake:
        yield fake


@pytest.fixture
def env(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    return hub_env(hub.url, tmp_path / "hf", tmp_path / "qwenchat")


def _blob_dir(env: dict[str, str], repo_id: str) -> Path:
    return Path(env["HF_HOME"], "hub", "models--" + repo_id.replace("/", "--"), "blobs")


def test_pull_qwen_downloads_into_the_standard_hf_cache(hub: FakeHub, env: dict[str, str]) -> None:
    answer = run_python(call("pull_qwen('qwen3-0.6b', home, say=say)"), env)

    path = Path(answer["path"])
    expected = Path(env["HF_HOME"], "hub", "models--Qwen--Qwen3-0.6B-GGUF", "snapshots", COMMIT)
    assert path == expected / SMALL.filename
    assert path.read_bytes() == tiny_gguf("qwen3-0.6b")
    assert path.resolve().name == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ("GET", f"/{SMALL.repo_id}/resolve/main/{SMALL.filename}") in hub.requests
    assert any(hub.url in message for message in answer["said"])


def test_pulled_alias_resolves_offline_without_the_hub(hub: FakeHub, env: dict[str, str]) -> None:
    pulled = run_python(call("pull_qwen('qwen3-0.6b', home, say=say)"), env)["path"]
    seen = len(hub.requests)
    offline = {**env, "HF_HUB_OFFLINE": "1"}

    resolved = run_python(call("resolve_model_file('qwen3-0.6b', home, say=say)"), offline)
    pulled_again = run_python(call("pull_qwen('qwen3-0.6b', home, say=say)"), offline)

    assert resolved["path"] == pulled
    assert pulled_again["path"] == pulled
    assert len(hub.requests) == seen
    assert resolved["said"] == []  # verified when pulled: no second hash


def test_offline_pull_of_a_file_not_cached_is_a_model_file_error(
    hub: FakeHub, env: dict[str, str]
) -> None:
    answer = run_python(call("pull_qwen('qwen3-1.7b', home)"), {**env, "HF_HUB_OFFLINE": "1"})

    assert "HF_HUB_OFFLINE" in answer["error"]
    assert hub.resolve_requests() == []


def test_corrupted_download_is_removed_and_reported(hub: FakeHub, env: dict[str, str]) -> None:
    body = tiny_gguf("qwen3-0.6b")
    hub.add(SMALL.repo_id, SMALL.filename, body, etag=hashlib.sha256(b"other").hexdigest())

    answer = run_python(call("pull_qwen('qwen3-0.6b', home)"), env)

    assert "does not match its sha256" in answer["error"]
    assert "qwenchat pull qwen3-0.6b" in answer["error"]
    assert list(_blob_dir(env, SMALL.repo_id).iterdir()) == []
    again = run_python(call("resolve_model_file('qwen3-0.6b', home, say=say)"), env)
    assert "not pulled yet" in again["error"]


def test_corrupted_cached_file_is_downloaded_again(hub: FakeHub, env: dict[str, str]) -> None:
    path = Path(run_python(call("pull_qwen('qwen3-0.6b', home)"), env)["path"])
    blob = path.resolve()
    blob.write_bytes(b"GGUF" + b"\0" * (blob.stat().st_size - 4))

    resolved = run_python(call("resolve_model_file('qwen3-0.6b', home, say=say)"), env)
    pulled = run_python(call("pull_qwen('qwen3-0.6b', home, say=say)"), env)

    assert "qwenchat pull qwen3-0.6b" in resolved["error"]
    assert any("downloading it again" in message for message in pulled["said"])
    assert Path(pulled["path"]).read_bytes() == tiny_gguf("qwen3-0.6b")


def test_default_model_is_the_best_pulled_qwen(hub: FakeHub, env: dict[str, str]) -> None:
    no_starter = "resolve_model_file(None, home, fetch_starter=False, say=say)"
    nothing = run_python(call(no_starter), env)
    run_python(call("pull_model('qwen3-0.6b', home, say=say)"), env)
    small = run_python(call(no_starter), env)
    run_python(call("pull_model('qwen3-1.7b', home, say=say)"), env)
    medium = run_python(call(no_starter), env)

    assert "qwenchat pull starter" in nothing["error"]
    assert Path(small["path"]).name == SMALL.filename
    assert Path(medium["path"]).name == MEDIUM.filename


def test_alias_not_pulled_tells_how_to_pull_it(env: dict[str, str]) -> None:
    answer = run_python(call("resolve_model_file('qwen3-4b', home, say=say)"), env)

    assert answer["error"] == (
        "The model 'qwen3-4b' is not pulled yet: run `qwenchat pull qwen3-4b` first."
    )


def test_hf_endpoint_set_after_huggingface_hub_was_imported_is_honoured(
    hub: FakeHub, env: dict[str, str]
) -> None:
    late = {key: value for key, value in env.items() if key != "HF_ENDPOINT"}
    before = f"import os, huggingface_hub\nos.environ['HF_ENDPOINT'] = {hub.url!r}\n"

    answer = run_python(call("pull_qwen('qwen3-0.6b', home)", before=before), late)

    assert Path(answer["path"]).name == SMALL.filename
    assert hub.resolve_requests()


def test_unknown_pull_target_names_the_known_models(tmp_path: Path, env: dict[str, str]) -> None:
    answer = run_python(call("pull_model('qwen9', home, say=say)"), env)

    assert answer["error"] == (
        "Unknown model 'qwen9': choose one of starter, qwen3-0.6b, qwen3-1.7b, qwen3-4b."
    )


def test_gguf_path_resolves_to_itself(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(tiny_gguf("local"))

    assert resolve_model_file(str(model), tmp_path, say=print) == model


def test_file_that_is_not_gguf_is_rejected(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"PK\x03\x04 not a gguf")

    with pytest.raises(ModelFileError, match="is not a GGUF file"):
        resolve_model_file(str(model), tmp_path, say=print)


def test_missing_path_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model_file(str(tmp_path / "nope.gguf"), tmp_path, say=print)


def test_unknown_name_lists_the_known_aliases(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        resolve_model_file("qwen-7b", tmp_path, say=print)

    assert caught.value.message == (
        "Unknown model 'qwen-7b': give the path of a GGUF file or one of "
        "starter, qwen3-0.6b, qwen3-1.7b, qwen3-4b."
    )
