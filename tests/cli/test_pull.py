"""``qwenchat pull``: a Qwen GGUF from the local fake hub (in a fresh interpreter, as a user
runs it), ``--list``, and errors as one line with exit code 1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.catalog.fake_hf_hub import FakeHub, RunningHub, hub_env, tiny_gguf

from qwenchat.catalog import QWEN_FILES
from qwenchat.cli.pull import pull

SMALL = QWEN_FILES["qwen3-0.6b"]
RUN_PULL = "import sys; from qwenchat.cli.pull import pull; pull.main(sys.argv[1:], 'pull')"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    hub = FakeHub()
    hub.add(SMALL.repo_id, SMALL.filename, tiny_gguf("qwen3-0.6b"))
    running = RunningHub(hub)
    try:
        yield hub_env(hub.url, tmp_path / "hf", tmp_path / "qwenchat")
    finally:
        running.close()


def _qwenchat_pull(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", RUN_PULL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pull_prints_where_the_file_is(env: dict[str, str]) -> None:
    result = _qwenchat_pull("qwen3-0.6b", env=env)

    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.name == SMALL.filename
    assert path.is_relative_to(Path(env["HF_HOME"]))
    assert path.read_bytes() == tiny_gguf("qwen3-0.6b")
    assert "Fetching Qwen3-0.6B-Q8_0.gguf" in result.stderr


def test_pull_list_shows_what_is_present(env: dict[str, str]) -> None:
    pulled = _qwenchat_pull("qwen3-0.6b", env=env).stdout.strip()

    result = _qwenchat_pull("--list", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "starter      (not pulled)",
        f"qwen3-0.6b   {pulled}",
        "qwen3-1.7b   (not pulled)",
        "qwen3-4b     (not pulled)",
    ]


def test_unknown_model_is_one_error_line_and_exit_code_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(pull, ["qwen9"], env={"QWENCHAT_HOME": str(tmp_path)})

    assert result.exit_code == 1
    assert result.output == (
        "Error: Unknown model 'qwen9': choose one of starter, qwen3-0.6b, qwen3-1.7b, qwen3-4b.\n"
    )
    assert "Traceback" not in result.output


def test_missing_model_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(pull, [], env={"QWENCHAT_HOME": str(tmp_path)})

    assert result.exit_code == 2
    assert "Missing MODEL: one of starter, qwen3-0.6b, qwen3-1.7b, qwen3-4b." in result.output
