"""``qwenchat chat``: talk to qwenchat or DashScope, one-shot, scripted or interactively.

The command parses its options, builds one request body and hands it to
:mod:`qwenchat.client`; it prints what comes back and maps :class:`ClientError` to the exit
code the error carries (2 usage, 3 API error, 4 connection error). The reference script's
flags (``--request``, ``--file``, ``--model``, ``--stream``, ``--enable-thinking``,
``--hide-reasoning``, ``--print-response``, ``--output``) keep their meaning: the answer goes
to stdout (as it arrives with ``--stream``), the reasoning to stderr, and the response JSON
only to ``--output`` (or, with ``--json``, to stdout instead of the answer).
``--list-models`` and ``--history`` remain as the ``models list`` and ``history list``
commands' older spellings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from qwenchat.cli._conversation import (
    ChatOptions,
    Conversation,
    Message,
    TurnDisplay,
    send_turn,
)
from qwenchat.cli._endpoint import (
    api_key_option,
    base_url_option,
    client_errors,
    connect,
    region_option,
    retries_option,
)
from qwenchat.cli._interactive import Session
from qwenchat.cli._render import StreamPrinter, describe_call, message_of
from qwenchat.cli.history import print_history
from qwenchat.cli.models import print_models
from qwenchat.client import ChatClient, ConversationStore, load_tool, load_tools

DEFAULT_MODEL = "qwen3.6-plus"


@click.command()
@click.argument("prompt", required=False)
@click.option("-i", "--interactive", is_flag=True,
              help="Open an interactive session (the default with no prompt on a terminal).")
@click.option("--request", "request_json", metavar="JSON",
              help="The request body as JSON (messages, sampling, tools, ...).")
@click.option("--file", "request_file", metavar="FILE.json",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the request body from a JSON file.")
@click.option("-m", "--model",
              help=f"Model id; overrides the request's [default: {DEFAULT_MODEL}].")
@click.option("--stream", is_flag=True,
              help="Stream: content to stdout as it arrives, reasoning to stderr.")
@click.option("--enable-thinking/--disable-thinking", default=None,
              help="Turn the model's thinking on or off [default: the model's own default].")
@click.option("--hide-reasoning", is_flag=True, help="Do not print the reasoning.")
@click.option("--print-response", is_flag=True,
              help="Print the answer to stdout (as it arrives with --stream), the reasoning "
                   "to stderr: what it does without the flag too.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole response JSON to stdout instead of the answer (streamed "
                   "text then goes to stderr).")
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="DIR|FILE.json",
              help="Save the response JSON as FILE.json, or as DIR/<response id>.json.")
@click.option("-s", "--system", help="System prompt.")
@base_url_option
@api_key_option
@region_option
@click.option("--tool", "tool_specs", multiple=True, metavar="MODULE:FUNCTION",
              help="Offer a Python function as a tool (repeatable; FILE.py:FUNCTION works).")
@click.option("--tools-file", "tools_files", multiple=True, metavar="FILE.py",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Offer every public function defined in FILE.py as a tool.")
@click.option("--confirm", is_flag=True, help="Ask before running each tool call.")
@click.option("--max-steps", type=click.IntRange(min=1), default=8, show_default=True,
              help="Most model calls in one tool loop.")
@click.option("-c", "--continue", "continue_latest", is_flag=True,
              help="Continue the latest conversation.")
@click.option("--conversation", "conversation_id", metavar="ID",
              help="Continue conversation ID.")
@click.option("--list-models", is_flag=True,
              help="List the endpoint's models and exit (as `qwenchat models list`).")
@click.option("--history", "show_history", is_flag=True,
              help="List the stored conversations and exit (as `qwenchat history list`).")
@retries_option
def chat(prompt: str | None, interactive: bool, request_json: str | None,
         request_file: Path | None, model: str | None, stream: bool,
         enable_thinking: bool | None, hide_reasoning: bool, print_response: bool,
         as_json: bool, output: Path | None, system: str | None, base_url: str | None,
         api_key: str | None, region: str | None, tool_specs: tuple[str, ...],
         tools_files: tuple[Path, ...],
         confirm: bool, max_steps: int, continue_latest: bool, conversation_id: str | None,
         list_models: bool, show_history: bool, retries: int) -> None:
    """Chat with a Qwen model: send PROMPT (or stdin, or --request/--file) and print the answer.

    With no prompt on a terminal (or with -i) it opens an interactive session; /help there
    lists its commands. Conversations are kept in $QWENCHAT_HOME and resumed with --continue
    or --conversation ID. Exit codes: 0 success, 2 usage error, 3 API error, 4 connection
    error.
    """
    body = _request_body(request_json, request_file)
    has_messages = prompt is not None or bool((body or {}).get("messages"))
    is_interactive = interactive or (not has_messages and sys.stdin.isatty())
    if print_response and as_json:
        raise click.UsageError("--print-response prints the answer and --json the response "
                               "JSON: give one of them.")
    if is_interactive and (print_response or as_json or output is not None):
        raise click.UsageError("--print-response, --json and --output are one-shot options.")
    with client_errors():
        if show_history:
            print_history()
            return
        client = connect(base_url, api_key, region, retries)
        options = ChatOptions(tools=_load_tools(tool_specs, tools_files), max_steps=max_steps,
                              confirm=confirm, hide_reasoning=hide_reasoning)
        with client:
            if list_models:
                print_models(client)
                return
            if not (is_interactive or has_messages):
                prompt = _read_stdin()
            with _store() as store:
                conversation, pending = _open_conversation(
                    store, body, prompt, model=model, system=system,
                    resume=(continue_latest, conversation_id))
                if is_interactive:
                    params = {k: v for k, v in (body or {}).items()
                              if k not in ("messages", "model", "stream")}
                    Session(client, conversation, options, params=params,
                            thinking=enable_thinking).run(pending)
                    return
                response = _one_shot(client, body, conversation, pending, options,
                                     stream=stream, thinking=enable_thinking,
                                     as_json=as_json)
    if output is not None:
        _write_output(output, response)


@contextmanager
def _store() -> Iterator[ConversationStore]:
    store = ConversationStore()
    try:
        yield store
    finally:
        store.close()


def _request_body(request_json: str | None, request_file: Path | None) -> dict[str, Any] | None:
    """The JSON body given with --request or --file (None with neither)."""
    if request_json is not None and request_file is not None:
        raise click.UsageError("Give the request with --request or with --file, not both.")
    if request_json is not None:
        return _parse_body(request_json, "--request")
    if request_file is not None:
        return _parse_body(request_file.read_text(encoding="utf-8"), str(request_file))
    return None


def _parse_body(text: str, origin: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"{origin} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise click.UsageError(f"{origin} must be a JSON object (the request body).")
    if not isinstance(body.get("messages", []), list):
        raise click.UsageError(f"{origin}: `messages` must be a list of messages.")
    return body


def _read_stdin() -> str:
    text = sys.stdin.read().strip()
    if not text:
        raise click.UsageError("Nothing to send: give a PROMPT, --request, --file or stdin.")
    return text


def _load_tools(specs: tuple[str, ...],
                files: tuple[Path, ...]) -> tuple[Callable[..., Any], ...]:
    """The functions named by --tool, then every public function of each --tools-file."""
    named = [load_tool(spec) for spec in specs]
    return (*named, *(fn for path in files for fn in load_tools(str(path))))


def _open_conversation(store: ConversationStore, body: dict[str, Any] | None,
                       prompt: str | None, *, model: str | None, system: str | None,
                       resume: tuple[bool, str | None]) -> tuple[Conversation, list[Message]]:
    """The conversation to talk in, and the messages of its first turn.

    The first turn is the request's messages (its leading system message becomes the
    conversation's system prompt) followed by PROMPT as a user message.
    """
    continue_latest, conversation_id = resume
    if continue_latest or conversation_id is not None:
        conversation = Conversation.resume(store, conversation_id)
    else:
        conversation = Conversation(store, model=DEFAULT_MODEL, system=None)
    pending = list((body or {}).get("messages") or [])
    if pending and isinstance(pending[0], dict) and pending[0].get("role") == "system":
        conversation.system = str(pending.pop(0).get("content") or "") or None
    if prompt is not None:
        pending.append({"role": "user", "content": prompt})
    conversation.model = model or (body or {}).get("model") or conversation.model
    if system is not None:
        conversation.system = system or None
    return conversation, pending


def _one_shot(client: ChatClient, body: dict[str, Any] | None, conversation: Conversation,
              pending: list[Message], options: ChatOptions, *, stream: bool,
              thinking: bool | None, as_json: bool) -> dict[str, Any]:
    """Send one turn, print it, record it; return the response.

    The answer goes to stdout (as it arrives when streamed) and the reasoning to stderr;
    with ``as_json`` stdout carries the response JSON alone, and streamed text goes to
    stderr.
    """
    request = {k: v for k, v in (body or {}).items() if k not in ("messages", "stream")}
    request.update(model=conversation.model, messages=conversation.request_messages(*pending))
    if thinking is not None:
        request["enable_thinking"] = thinking
    stream = stream or bool((body or {}).get("stream"))
    printer = StreamPrinter(hide_reasoning=options.hide_reasoning, content_to_stderr=as_json)
    # Without --stream the library calls these once with the whole text; with --json the
    # JSON alone goes to stdout, and streamed text to stderr.
    display = TurnDisplay(on_content=printer.content if stream or not as_json else None,
                          on_reasoning=printer.reasoning,
                          on_call=lambda name, args: printer.call(describe_call(name, args)),
                          confirm=_ask_before_call if options.confirm else None)
    response, added, usage = send_turn(client, request, options, display, stream=stream)
    printer.finish()
    if not options.tools:
        _report_unrun_calls(response)
    if as_json:
        click.echo(json.dumps(response, indent=2, ensure_ascii=False))
    conversation.record(pending + added, usage=usage)
    return response


def _report_unrun_calls(response: dict[str, Any]) -> None:
    for call in message_of(response).get("tool_calls") or []:
        function = call.get("function") or {}
        click.secho(f"{describe_call(function.get('name', '?'), function.get('arguments'))}"
                    " (not run: load tools with --tool or --tools-file)", dim=True, err=True)


def _ask_before_call(name: str, arguments: dict[str, Any]) -> bool:
    return click.confirm(f"Run {describe_call(name, arguments)}?", default=True, err=True)


def _write_output(target: Path, response: dict[str, Any]) -> None:
    """Save the response JSON as ``target`` (a .json file) or into directory ``target``."""
    if target.suffix.lower() == ".json" and not target.is_dir():
        path = target
    else:
        path = target / f"{response.get('id') or 'response'}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(response, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot write {path}: {exc.strerror or exc}",
                                 param_hint="--output") from exc
    click.secho(f"saved {path}", dim=True, err=True)
