"""Shared fixtures: the starter model, a real `qwenchat serve` subprocess on a free port, and
throw-away Redis, PostgreSQL and vLLM servers (started only for the tests that use them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness.qwenchat import ServerProcess, sdk
from harness.services import PostgresServer, RedisServer, VllmServer
from sqlalchemy import Engine
from tests.fixtures_qwen3 import qwen3_model  # noqa: F401 - a shared fixture

from qwenchat.catalog import resolve_model_file
from qwenchat.gateway import open_database
from qwenchat.settings import default_home


@pytest.fixture(scope="session")
def starter_model() -> Path:
    """The starter GGUF (fetched into the user's model cache by the test script)."""
    return resolve_model_file("starter", default_home(), say=print)


@pytest.fixture(scope="session")
def server(starter_model: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the session: the starter model behind every id, one llama.cpp thread."""
    home = tmp_path_factory.mktemp("home")
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log") as proc:
        yield proc


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    """The official SDK pointed at DashScope's compatible-mode path of the server."""
    with sdk(server.url) as client:
        yield client


# ChatML like SmolLM2's own, plus what Qwen3's template does with thinking: a reasoning block
# opened after the assistant header when the template argument enable_thinking is true, and
# an earlier answer's reasoning rendered in one. The prompt's length shows what reached it.
VLLM_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n"
    "{% if message.reasoning %}<think>\n{{ message.reasoning }}\n</think>\n{% endif %}"
    "{{ message.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking %}<think>\n{% endif %}{% endif %}"
)


@pytest.fixture(scope="module")
def vllm_server(starter_model: Path) -> Iterator[VllmServer]:
    """A real vLLM (CPU build, made by scripts/vllm_cpu.sh) serving the starter model with
    ``VLLM_TEMPLATE`` and the qwen3 reasoning parser, 1,024 tokens of context; per module,
    so its ~4 GB are freed when the module is done."""
    with VllmServer(starter_model, chat_template=VLLM_TEMPLATE,
                    reasoning_parser="qwen3") as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the session, without persistence."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; `create_database()` gives each test an empty one."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty gateway database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def gateway_db(database_url: str) -> Iterator[Engine]:
    """The gateway database of ``database_url``, migrated (disposed afterwards)."""
    engine = open_database(database_url)
    yield engine
    engine.dispose()
