"""The qwenchat client library: DashScope-compatible chat with retries, tools and history.

Works against DashScope itself or a ``qwenchat serve``; stands alone (it never imports the
server's packages)::

    from qwenchat.client import ChatClient, resolve_connection, run_tool_loop

    with ChatClient(resolve_connection(region="local")) as client:
        answer = client.complete({"model": "qwen-plus",
                                  "messages": [{"role": "user", "content": "Hi"}]})
        print(answer["choices"][0]["message"]["content"], answer["reasoning"])

Modules: ``_connection`` (regions, env, ``.env``), ``_retry`` (the pure retry policy),
``_client`` (the SDK calls), ``_response`` (stream reassembly, reasoning normalisation),
``_tools`` (functions as tools), ``_loop`` (the tool loop), ``_history`` (SQLite history),
``_errors`` (ClientError and its exit codes: 2 usage, 3 API error, 4 connection error).
"""

from __future__ import annotations

from qwenchat.client._client import ChatClient
from qwenchat.client._connection import REGIONS, Connection, read_dotenv, resolve_connection
from qwenchat.client._errors import EXIT_API, EXIT_CONNECTION, EXIT_USAGE, ClientError
from qwenchat.client._history import ConversationStore
from qwenchat.client._loop import ToolLoopResult, history_message, run_tool_loop
from qwenchat.client._response import StreamAssembler, normalise
from qwenchat.client._retry import RetryPolicy
from qwenchat.client._tools import load_tool, load_tools, tool_from_function

__all__ = [
    "EXIT_API",
    "EXIT_CONNECTION",
    "EXIT_USAGE",
    "REGIONS",
    "ChatClient",
    "ClientError",
    "Connection",
    "ConversationStore",
    "RetryPolicy",
    "StreamAssembler",
    "ToolLoopResult",
    "history_message",
    "load_tool",
    "load_tools",
    "normalise",
    "read_dotenv",
    "resolve_connection",
    "run_tool_loop",
    "tool_from_function",
]
