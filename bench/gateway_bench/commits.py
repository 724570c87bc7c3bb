"""One ledger row committed alone, timed from the benchmark process: a bare insert + commit,
and the same through the Ledger's writer thread."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert

from bench.gateway_bench.servers import Services
from bench.gateway_bench.setups import MODEL, Setup
from qwenchat.gateway import Ledger, UsageRow, open_database
from qwenchat.gateway.tables import usage


def commit_times(database_url: str, count: int) -> tuple[float, float]:
    """p50 ms of committing one ledger row: a bare insert + commit, and the same row through
    the Ledger's writer thread (queue, commit, future resolved), from a waiting caller."""
    database = open_database(database_url)
    ledger = Ledger(database)
    try:
        bare, through = [], []
        for index in range(count):
            row = UsageRow(created_at=datetime.now(timezone.utc), request_id=f"r{index}",
                           key_id=None, model=MODEL, deployment="bench", stream=False,
                           status=200)
            started = time.perf_counter()
            with database.begin() as connection:
                connection.execute(insert(usage), [row.to_row()])
            bare.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ledger.record(dataclasses.replace(row, request_id=f"r{index}-ledger")).result()
            through.append((time.perf_counter() - started) * 1000)
        return statistics.median(bare), statistics.median(through)
    finally:
        ledger.close()
        database.dispose()


def commit_table(setups: Sequence[Setup], services: Services, workdir: Path,
                 count: int = 500) -> list[str]:
    urls = {}
    if any(s.ledger == "sqlite" for s in setups):
        urls["SQLite"] = f"sqlite:///{workdir / 'commits.db'}"
    if services.postgres is not None:
        urls["PostgreSQL"] = services.postgres.create_database()
    rows = ["| database | insert + commit p50 ms | through the Ledger p50 ms |", "|---|---|---|"]
    for name, url in urls.items():
        bare, through = commit_times(url, count)
        rows.append(f"| {name} | {bare:.3f} | {through:.3f} |")
    return rows if urls else []
