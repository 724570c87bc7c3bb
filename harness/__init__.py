"""Starting the processes that tests and benchmarks talk to, on free ports of 127.0.0.1.

- ``process``: a free port, and :class:`ServiceProcess`, the one way a server subprocess is
  started, waited for, logged and stopped (:class:`Command`: any server by its argv and a
  URL that answers 200 once it serves).
- ``qwenchat``: ``qwenchat serve`` (:class:`ServerProcess`), the CLI, keys, an upstream-only
  gateway, and the official SDK pointed at a server.
- ``services``: throw-away Redis, PostgreSQL, llama-server and vLLM servers.
- ``scripted_upstream``: a cheap OpenAI-compatible upstream with a fixed reply (a runnable
  module) and :class:`ScriptedUpstream`, which starts it.
- ``proxy``: a TCP proxy that can stall, as a database behind a dead link.

Tests import it as ``harness`` (pytest puts the repository root on ``sys.path``); the
benchmark scripts put the repository root on ``sys.path`` themselves.
"""
