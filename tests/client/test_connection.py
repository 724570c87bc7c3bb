"""resolve_connection: arguments over environment over .env, regions, keys, local."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwenchat.client import REGIONS, ClientError, read_dotenv, resolve_connection

KEY = {"DASHSCOPE_API_KEY": "sk-env"}


def _resolve(tmp_path: Path, env: dict[str, str], dotenv: str = "", **kwargs: str):  # type: ignore[no-untyped-def]
    path = tmp_path / ".env"
    path.write_text(dotenv)
    return resolve_connection(env=env, dotenv_path=path, **kwargs)


def test_regions_are_dashscopes_compatible_mode_urls() -> None:
    assert REGIONS == {
        "beijing": "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "singapore": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "virginia": "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
        "hongkong": "https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1",
        "local": "http://127.0.0.1:8000/compatible-mode/v1",
    }


def test_default_is_beijing(tmp_path: Path) -> None:
    connection = _resolve(tmp_path, KEY)
    assert (connection.base_url, connection.region) == (REGIONS["beijing"], "beijing")
    assert connection.api_key == "sk-env"


@pytest.mark.parametrize("name", ["singapore", "Virginia", "hongkong", "HONG-KONG"])
def test_region_from_environment(tmp_path: Path, name: str) -> None:
    connection = _resolve(tmp_path, {**KEY, "QWEN_REGION": name})
    assert connection.region == name.lower().replace("-", "")
    assert connection.base_url == REGIONS[connection.region]


def test_base_url_beats_region_and_explicit_beats_environment(tmp_path: Path) -> None:
    env = {**KEY, "QWEN_REGION": "singapore", "QWEN_BASE_URL": "https://example.com/v1/"}
    connection = _resolve(tmp_path, env)
    assert (connection.base_url, connection.region) == ("https://example.com/v1", None)
    assert _resolve(tmp_path, env, region="virginia").base_url == REGIONS["virginia"]
    explicit = _resolve(tmp_path, env, base_url=REGIONS["hongkong"], region="virginia")
    assert (explicit.base_url, explicit.region) == (REGIONS["hongkong"], "hongkong")


def test_key_precedence(tmp_path: Path) -> None:
    env = {"QWENCLOUD_API_KEY": "sk-cloud", "QWEN_API_KEY": "sk-qwen"}
    dotenv = "DASHSCOPE_API_KEY=sk-file\n"
    assert _resolve(tmp_path, env, dotenv).api_key == "sk-qwen"
    assert _resolve(tmp_path, {**env, **KEY}, dotenv).api_key == "sk-env"
    assert _resolve(tmp_path, {"QWENCLOUD_API_KEY": "sk-cloud"}, dotenv).api_key == "sk-cloud"
    assert _resolve(tmp_path, {}, dotenv).api_key == "sk-file"
    assert _resolve(tmp_path, KEY, dotenv, api_key="sk-arg").api_key == "sk-arg"


def test_dotenv_supplies_url_under_the_environment(tmp_path: Path) -> None:
    dotenv = "# settings\nexport QWEN_REGION='singapore'\nQWEN_API_KEY=\"sk-quoted\"  \n"
    connection = _resolve(tmp_path, {}, dotenv)
    assert (connection.region, connection.api_key) == ("singapore", "sk-quoted")
    assert _resolve(tmp_path, {"QWEN_REGION": "virginia"}, dotenv).region == "virginia"


def test_read_dotenv_forms(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("A=1\n  B = two # note\nexport C='three # kept'\nbroken line\n\nD=\n")
    assert read_dotenv(path) == {"A": "1", "B": "two", "C": "three # kept", "D": ""}
    assert read_dotenv(tmp_path / "missing") == {}


def test_local_needs_no_key(tmp_path: Path) -> None:
    connection = _resolve(tmp_path, {"QWEN_REGION": "local"})
    assert connection == type(connection)(REGIONS["local"], "sk-local", "local")
    loopback = _resolve(tmp_path, {}, base_url="http://localhost:9000/v1")
    assert (loopback.api_key, loopback.region) == ("sk-local", None)
    assert _resolve(tmp_path, {"QWEN_API_KEY": "sk-x"}, region="local").api_key == "sk-x"


def test_missing_key_for_a_remote_region_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ClientError) as caught:
        _resolve(tmp_path, {"QWEN_REGION": "singapore"})
    assert caught.value.exit_code == 2
    assert "DASHSCOPE_API_KEY" in caught.value.message
    assert "singapore" in caught.value.message


def test_unknown_region_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="beijing, singapore") as caught:
        _resolve(tmp_path, KEY, region="mars")
    assert caught.value.exit_code == 2
