"""`qwenchat serve` options, settings precedence and start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qwenchat.cli.main import cli


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("QWENCHAT_HOME", str(tmp_path / "home"))
    for name in ("QWENCHAT_PORT", "QWENCHAT_HOST", "QWENCHAT_MODEL", "QWENCHAT_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_help_explains_every_option(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--model", "--config", "--context-size", "--threads",
                   "--print-config"):
        assert option in result.output
    assert "GGUF path" in result.output


def test_print_config_applies_file_env_then_options(runner: CliRunner, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "qwenchat.toml"
    config.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[engine]\nthreads = 3\n'
                      '[aliases]\nqwen = "qwen3.6-plus"\n')
    monkeypatch.setenv("QWENCHAT_PORT", "9100")
    result = runner.invoke(cli, ["serve", "--config", str(config), "--threads", "1",
                                 "--print-config"])
    assert result.exit_code == 0, result.output
    assert 'host = "0.0.0.0"' in result.output  # from the file
    assert "port = 9100" in result.output  # the environment beats the file
    assert "threads = 1" in result.output  # the command line beats both
    assert '"qwen" = "qwen3.6-plus"' in result.output
    printed = tmp_path / "printed.toml"
    printed.write_text(result.output)  # the printed settings are themselves a valid config
    again = runner.invoke(cli, ["serve", "--config", str(printed), "--print-config"])
    assert again.output.replace("9100", "") == result.output.replace("9100", "")


def test_the_key_in_flight_cap_defaults_to_32_and_reads_its_variable(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QWENCHAT_KEY_MAX_IN_FLIGHT", raising=False)
    default = runner.invoke(cli, ["serve", "--print-config"])
    assert "key_max_in_flight = 32" in default.output
    monkeypatch.setenv("QWENCHAT_KEY_MAX_IN_FLIGHT", "0")
    assert "key_max_in_flight = 0" in runner.invoke(cli, ["serve", "--print-config"]).output


def test_unknown_config_key_stops_start_up_naming_it(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "qwenchat.toml"
    config.write_text("[engine]\ncontext_sise = 4096\n")
    result = runner.invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "unknown key 'engine.context_sise'" in result.output


def test_missing_config_file_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["serve", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_unknown_model_spec_is_reported(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["serve", "--model", "llama-70b"])
    assert result.exit_code == 1
    assert "qwen3-4b" in result.output  # the message lists the known aliases


def test_the_edge_limits_come_from_env_and_options(runner: CliRunner,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = runner.invoke(cli, ["serve", "--print-config"]).output
    for line in ("max_body_mb = 6", "body_timeout = 60.0", "header_timeout = 10.0",
                 "keep_alive_timeout = 5", "max_connections = 512", "docs = false"):
        assert line in defaults
    monkeypatch.setenv("QWENCHAT_MAX_BODY_MB", "2")
    monkeypatch.setenv("QWENCHAT_HEADER_TIMEOUT", "3")
    monkeypatch.setenv("QWENCHAT_MAX_CONNECTIONS", "64")
    result = runner.invoke(cli, ["serve", "--max-connections", "100", "--docs",
                                 "--print-config"])
    assert result.exit_code == 0, result.output
    for line in ("max_body_mb = 2", "header_timeout = 3.0", "max_connections = 100",
                 "docs = true"):
        assert line in result.output
