"""``qwenchat keys`` on a real SQLite file under QWENCHAT_HOME: a secret is printed once and
stored nowhere, lists show hints, errors are one line with exit code 1, rotate and revoke
take effect, ``--expires`` reads durations and dates."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from harness.qwenchat import QWENCHAT

from qwenchat.cli.main import cli
from qwenchat.gateway.database import open_database
from qwenchat.gateway.keys import KeyStore, hash_secret


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """QWENCHAT_HOME for the commands; nothing else in the environment picks the database."""
    for variable in ("QWENCHAT_DATABASE_URL", "QWENCHAT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("QWENCHAT_HOME", str(tmp_path))
    return tmp_path


@contextmanager
def key_store(home: Path) -> Iterator[KeyStore]:
    engine = open_database(f"sqlite:///{home / 'qwenchat.db'}")
    try:
        yield KeyStore(engine)
    finally:
        engine.dispose()


def qwenchat(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="qwenchat")


def created_secret(*args: str) -> str:
    result = qwenchat("keys", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_create_prints_the_secret_alone_on_stdout_and_the_details_on_stderr(
        home: Path) -> None:
    env = {**os.environ, "QWENCHAT_HOME": str(home)}
    result = subprocess.run([str(QWENCHAT), "keys", "create", "--name", "ci", "--rpm", "60"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    secret = result.stdout.removesuffix("\n")
    assert "\n" not in secret
    assert secret.startswith("sk-")
    assert len(secret) >= 46
    assert "Save this key now: it is not shown again." in result.stderr
    assert "name ci" in result.stderr
    assert "rpm 60" in result.stderr
    assert secret not in result.stderr
    with key_store(home) as store:
        found = store.find(secret)
    assert found is not None
    assert (found.name, found.rpm, found.region) == ("ci", 60, "local")


def test_the_secret_is_stored_nowhere_and_listed_nowhere(home: Path) -> None:
    secret = created_secret("--name", "ci", "--models", "qwen-plus,qwen3-max",
                            "--quota-tokens", "1000", "--region", "singapore")

    table = qwenchat("keys", "list")
    as_json = qwenchat("keys", "list", "--json")

    stored = b"".join(path.read_bytes() for path in home.glob("qwenchat.db*"))
    assert hash_secret(secret).encode() in stored  # the right file, and only the hash
    assert secret.encode() not in stored
    assert secret[3:].encode() not in stored
    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert secret not in result.output
        assert secret[3:] not in result.output
    hint = f"sk-…{secret[-4:]}"
    assert hint in table.stdout
    assert "qwen-plus,qwen3-max" in table.stdout
    assert "singapore" in table.stdout
    [listed] = json.loads(as_json.stdout)
    assert listed["hint"] == hint
    assert listed["models"] == ["qwen-plus", "qwen3-max"]
    assert (listed["name"], listed["quota_tokens"], listed["status"]) == ("ci", 1000, "active")
    assert datetime.fromisoformat(listed["created_at"]).tzinfo is not None
    assert listed["expires_at"] is None
    assert "secret_hash" not in listed


def test_an_unknown_model_id_is_accepted_with_a_warning(home: Path) -> None:
    result = qwenchat("keys", "create", "--name", "ci", "--models", "qwen-plus,qwen-plsu")

    assert result.exit_code == 0, result.output
    assert "'qwen-plsu' is not a built-in model id" in result.stderr
    assert "qwen-plus'" not in result.stderr
    with key_store(home) as store:
        assert store.get("ci").models == ("qwen-plus", "qwen-plsu")


def test_a_taken_name_fails_with_one_line_and_exit_code_1(home: Path) -> None:
    created_secret("--name", "ci")

    result = qwenchat("keys", "create", "--name", "ci")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: A key named 'ci' already exists.\n"


def test_unknown_keys_fail_with_exit_code_1(home: Path) -> None:
    for command in ("revoke", "rotate"):
        result = qwenchat("keys", command, "nobody")

        assert result.exit_code == 1
        assert result.stderr == "Error: No key is named 'nobody'.\n"


def test_a_revoked_key_is_listed_only_with_all(home: Path) -> None:
    created_secret("--name", "old")
    created_secret("--name", "new")

    revoked = qwenchat("keys", "revoke", "old")

    assert revoked.exit_code == 0, revoked.output
    assert "Revoked key 'old'" in revoked.stderr
    names = [key["name"] for key in json.loads(qwenchat("keys", "list", "--json").stdout)]
    assert names == ["new"]
    every = json.loads(qwenchat("keys", "list", "--all", "--json").stdout)
    assert [(key["name"], key["status"]) for key in every] == [("old", "revoked"),
                                                               ("new", "active")]
    assert "revoked" in qwenchat("keys", "list", "--all").stdout
    assert "old" not in qwenchat("keys", "list").stdout


def test_rotate_prints_a_new_secret_and_the_old_one_stops_working(home: Path) -> None:
    old = created_secret("--name", "ci", "--tpm", "5000")

    result = qwenchat("keys", "rotate", "ci")

    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert new.startswith("sk-")
    assert new != old
    assert "Save this key now" in result.stderr
    with key_store(home) as store:
        assert store.find(old) is None
        rotated = store.find(new)
        assert rotated is not None
        assert rotated.id == store.get("ci").id
        assert rotated.tpm == 5000


def test_expires_takes_a_duration_from_now(home: Path) -> None:
    created_secret("--name", "month", "--expires", "30d")
    created_secret("--name", "hours", "--expires", "12h")

    with key_store(home) as store:
        month, hours = store.get("month"), store.get("hours")
    now = datetime.now(timezone.utc)
    assert month.expires_at is not None and hours.expires_at is not None
    assert abs(month.expires_at - (now + timedelta(days=30))) < timedelta(minutes=1)
    assert abs(hours.expires_at - (now + timedelta(hours=12))) < timedelta(minutes=1)


def test_expires_takes_an_iso_date_or_date_time(home: Path) -> None:
    created_secret("--name", "date", "--expires", "2099-12-31")
    created_secret("--name", "time", "--expires", "2099-12-31T12:30:00+02:00")

    with key_store(home) as store:
        assert store.get("date").expires_at == datetime(2099, 12, 31, tzinfo=timezone.utc)
        assert store.get("time").expires_at == datetime(2099, 12, 31, 10, 30,
                                                        tzinfo=timezone.utc)


@pytest.mark.parametrize(("value", "reason"), [
    ("30x", "is neither a duration"),
    ("next week", "is neither a duration"),
    ("2001-01-01", "is not in the future"),
    ("0d", "is not in the future"),
    ("9999999d", "is too far in the future"),
    ("99999999999999d", "is too long a duration"),
])
def test_a_bad_expiry_is_a_usage_error(home: Path, value: str, reason: str) -> None:
    result = qwenchat("keys", "create", "--name", "ci", "--expires", value)

    assert result.exit_code == 2
    assert "Invalid value for '--expires'" in result.stderr
    assert reason in result.stderr
    assert result.stdout == ""
    assert not (home / "qwenchat.db").exists()


def test_an_empty_list_says_how_to_create_a_key(home: Path) -> None:
    result = qwenchat("keys", "list")

    assert result.exit_code == 0, result.output
    assert "qwenchat keys create --name NAME" in result.stdout
    assert json.loads(qwenchat("keys", "list", "--json").stdout) == []


def test_config_names_the_database_and_the_default_region(home: Path) -> None:
    other = home / "elsewhere" / "gateway.db"
    config = home / "qwenchat.toml"
    config.write_text(f'[gateway]\ndatabase = "sqlite:///{other}"\nregion = "eu"\n')

    secret = created_secret("--name", "ci", "--config", str(config))
    listed = qwenchat("keys", "list", "--json", "--config", str(config))

    assert [key["region"] for key in json.loads(listed.stdout)] == ["eu"]
    assert other.exists()
    assert not (home / "qwenchat.db").exists()
    assert qwenchat("keys", "list", "--config", str(home / "missing.toml")).exit_code == 1
    engine = open_database(f"sqlite:///{other}")
    try:
        assert KeyStore(engine).find(secret) is not None
    finally:
        engine.dispose()


def test_create_sets_key_wide_limits_and_the_in_flight_cap(home: Path) -> None:
    secret = created_secret("--name", "ci", "--total-rpm", "30", "--total-tpm", "9000",
                            "--max-in-flight", "2")

    with key_store(home) as store:
        found = store.find(secret)
    assert found is not None
    assert (found.total_rpm, found.total_tpm, found.max_in_flight) == (30, 9000, 2)
    [listed] = json.loads(qwenchat("keys", "list", "--json").stdout)
    assert (listed["total_rpm"], listed["total_tpm"], listed["max_in_flight"]) == (30, 9000, 2)
