"""``qwenchat usage`` over a real SQLite ledger under QWENCHAT_HOME: the table, ``--json``,
``--csv``, the filters and the quota table, and an empty ledger."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from qwenchat.cli.main import cli
from qwenchat.cli.usage import CSV_COLUMNS
from qwenchat.gateway.database import open_database
from qwenchat.gateway.keys import KeyStore
from qwenchat.gateway.ledger import Ledger, UsageRow

NOW = datetime.now(timezone.utc)
TODAY = NOW.strftime("%Y-%m-%d")
LONG_AGO = datetime(2020, 5, 17, 12, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The database the commands open, through QWENCHAT_HOME."""
    monkeypatch.delenv("QWENCHAT_DATABASE_URL", raising=False)
    monkeypatch.setenv("QWENCHAT_HOME", str(tmp_path))
    engine = open_database(f"sqlite:///{tmp_path / 'qwenchat.db'}")
    try:
        yield engine
    finally:
        engine.dispose()


def row(when: datetime, key_id: str | None, model: str, *, status: int = 200,
        prompt: int = 0, cached: int = 0, completion: int = 0,
        reasoning: int = 0) -> UsageRow:
    return UsageRow(created_at=when, request_id=uuid.uuid4().hex, key_id=key_id, model=model,
                    deployment="test.gguf", stream=True, status=status, prompt_tokens=prompt,
                    cached_tokens=cached, completion_tokens=completion,
                    reasoning_tokens=reasoning, duration_ms=40.0)


def some_usage(engine: Engine) -> str:
    """Key `team` (quota 5,000 tokens) with usage today and long ago, and anonymous usage."""
    team = KeyStore(engine).create("team", region="local", quota_tokens=5000).key.id
    ledger = Ledger(engine)
    try:
        for future in [ledger.record(r) for r in (
            row(NOW, team, "qwen-plus", prompt=1200, cached=300, completion=800, reasoning=150),
            row(NOW, team, "qwen-plus", status=429),
            row(NOW, None, "qwen3-max", prompt=40, completion=2),
            row(LONG_AGO, team, "qwen3-max", prompt=500, completion=100),
        )]:
            future.result(timeout=30)
    finally:
        ledger.close()
    return team


def qwenchat(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), prog_name="qwenchat")
    assert result.exit_code == 0, result.output
    return result


def line_with(text: str, *parts: str) -> list[str]:
    """The words of the one table line that holds every part."""
    [line] = [line for line in text.splitlines() if all(part in line for part in parts)]
    return line.replace("│", " ").split()


def test_the_table_shows_totals_by_day_key_and_model_then_quotas(engine: Engine) -> None:
    some_usage(engine)

    out = qwenchat("usage").stdout

    assert line_with(out, TODAY, "team") == [TODAY, "team", "qwen-plus", "2", "1", "1,200",
                                             "300", "800", "150", "2,000"]
    assert line_with(out, TODAY, "qwen3-max") == [TODAY, "-", "qwen3-max", "1", "0", "40",
                                                  "0", "2", "0", "42"]
    assert line_with(out, "2020-05-17") == ["2020-05-17", "team", "qwen3-max", "1", "0", "500",
                                            "0", "100", "0", "600"]
    assert line_with(out, "Total", "2,642") == ["Total", "4", "1", "1,740", "300", "902",
                                                "150", "2,642"]
    quota = out[out.index("Quota"):]
    assert line_with(quota, "team") == ["team", "5,000", "2,600", "2,400"]


def test_json_has_the_totals_and_the_quotas(engine: Engine) -> None:
    team = some_usage(engine)

    report = json.loads(qwenchat("usage", "--json").stdout)

    assert report["quotas"] == [{"key_id": team, "key_name": "team", "quota_tokens": 5000,
                                 "used_tokens": 2600, "remaining_tokens": 2400}]
    assert [(u["day"], u["key_name"], u["model"]) for u in report["usage"]] == [
        ("2020-05-17", "team", "qwen3-max"), (TODAY, "team", "qwen-plus"),
        (TODAY, None, "qwen3-max")]
    assert report["usage"][1] == {
        "day": TODAY, "key_id": team, "key_name": "team", "model": "qwen-plus",
        "requests": 2, "errors": 1, "prompt_tokens": 1200, "cached_tokens": 300,
        "completion_tokens": 800, "reasoning_tokens": 150, "total_tokens": 2000}


def test_csv_has_a_header_and_one_row_per_total(engine: Engine) -> None:
    team = some_usage(engine)

    rows = list(csv.reader(io.StringIO(qwenchat("usage", "--csv").stdout)))

    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1:] == [
        ["2020-05-17", "team", team, "qwen3-max", "1", "0", "500", "0", "100", "0", "600"],
        [TODAY, "team", team, "qwen-plus", "2", "1", "1200", "300", "800", "150", "2000"],
        [TODAY, "-", "", "qwen3-max", "1", "0", "40", "0", "2", "0", "42"],
    ]


def test_filters_keep_days_a_key_and_a_model(engine: Engine) -> None:
    team = some_usage(engine)
    week_ago = (NOW - timedelta(days=7)).strftime("%Y-%m-%d")

    def shown(*args: str) -> list[tuple[str, str | None, str]]:
        report = json.loads(qwenchat("usage", "--json", *args).stdout)
        return [(u["day"], u["key_name"], u["model"]) for u in report["usage"]]

    assert shown("--since", "7d") == [(TODAY, "team", "qwen-plus"), (TODAY, None, "qwen3-max")]
    assert shown("--since", week_ago) == shown("--since", "7d")
    assert shown("--key", "team", "--model", "qwen3-max") == [
        ("2020-05-17", "team", "qwen3-max")]
    assert shown("--key", team, "--since", "2020-05-18") == [(TODAY, "team", "qwen-plus")]


def test_an_empty_ledger_says_so(engine: Engine) -> None:
    result = qwenchat("usage")

    assert result.stdout == "No usage recorded.\n"
    assert json.loads(qwenchat("usage", "--json").stdout) == {"usage": [], "quotas": []}
    assert qwenchat("usage", "--csv").stdout == ",".join(CSV_COLUMNS) + "\n"


def test_bad_options_fail_clearly(engine: Engine) -> None:
    runner = CliRunner()

    since = runner.invoke(cli, ["usage", "--since", "last year"])
    both = runner.invoke(cli, ["usage", "--json", "--csv"])
    nobody = runner.invoke(cli, ["usage", "--key", "nobody"])

    assert since.exit_code == 2
    assert "'last year' is neither a duration" in since.stderr
    assert both.exit_code == 2
    assert "Choose one of --json and --csv." in both.stderr
    assert nobody.exit_code == 1
    assert nobody.stderr == "Error: No key is named 'nobody'.\n"
