"""The interactive side of ``qwenchat chat``: a read-send-render loop with slash commands.

Rules: every turn streams; the answer is rendered as markdown as it arrives, reasoning is
dimmed and collapsed to one line unless ``/think show``; each tool call is shown as it runs.
A turn that fails or is interrupted (Ctrl-C) is reported and not kept; the session goes on.
Ctrl-D or ``/exit`` ends it. Lines are read with ``input()`` (readline editing and history
where the platform has it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from qwenchat.cli._conversation import (
    ChatOptions,
    ConfirmCallback,
    Conversation,
    Message,
    TurnDisplay,
    send_turn,
)
from qwenchat.cli._render import TurnView, describe_call
from qwenchat.client import ChatClient, ClientError, tool_from_function

with suppress(ImportError):  # line editing and history for input(), where there is readline
    import readline  # noqa: F401

PROMPT = ">>> "
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens")
HELP = """\
/model [NAME]          show or switch the model
/think on|off|default  turn thinking on, off, or back to the model's default
/think show|hide       show the reasoning in full, or collapsed to one line
/system [TEXT|-]       show, set, or (with -) remove the system prompt
/tools                 list the loaded tools
/save [FILE]           write the conversation as JSON [default: qwenchat-<id>.json]
/clear                 start a new conversation
/usage                 tokens used so far (this session, this conversation)
/help                  this list
/exit                  leave (Ctrl-D works too)"""


class Session:
    """One interactive chat at a terminal."""

    def __init__(self, client: ChatClient, conversation: Conversation, options: ChatOptions,
                 *, params: dict[str, Any], thinking: bool | None,
                 console: Console | None = None) -> None:
        self.client = client
        self.conversation = conversation
        self.options = options
        self.params = params
        self.thinking = thinking
        self.is_reasoning_shown = False
        self.console = console or Console(highlight=False)
        self.usage = dict.fromkeys(USAGE_FIELDS, 0)
        self.num_turns = 0
        self.commands: dict[str, Callable[[str], None]] = {
            "/model": self._model, "/think": self._think, "/system": self._system,
            "/tools": self._tools, "/save": self._save, "/clear": self._clear,
            "/usage": self._usage, "/help": self._help,
        }

    def run(self, first_turn: list[Message]) -> None:
        """Greet, send ``first_turn`` if there is one, then read lines until /exit or EOF."""
        self._greet()
        if first_turn:
            self.send(first_turn)
        while True:
            try:
                line = input(PROMPT).strip()
            except EOFError:
                self.console.print()
                return
            except KeyboardInterrupt:
                self.console.print()
                continue
            if line in ("/exit", "/quit"):
                return
            if line.startswith("/"):
                self.command(line)
            elif line:
                self.send([{"role": "user", "content": line}])

    def command(self, line: str) -> None:
        """Run one slash command."""
        name, _, argument = line.partition(" ")
        handler = self.commands.get(name.lower())
        if handler is None:
            self._note(f"unknown command {name}; /help lists them")
        else:
            handler(argument.strip())

    def send(self, messages: list[Message]) -> None:
        """Send one turn, render it as it streams, and keep it in the history."""
        request = {**self.params, "model": self.conversation.model,
                   "messages": self.conversation.request_messages(*messages)}
        if self.thinking is not None:
            request["enable_thinking"] = self.thinking
        view = TurnView(show_reasoning=self.is_reasoning_shown)
        try:
            with Live(view, console=self.console, refresh_per_second=8,
                      vertical_overflow="visible") as live:
                display = TurnDisplay(
                    on_content=view.add_content,
                    on_reasoning=None if self.options.hide_reasoning else view.add_reasoning,
                    on_call=lambda name, arguments: view.add_call(describe_call(name, arguments)),
                    confirm=self._confirmer(live, view) if self.options.confirm else None)
                _, added, usage = send_turn(self.client, request, self.options, display,
                                            stream=True)
        except ClientError as exc:
            self.console.print(f"[bold red]Error:[/] {escape(exc.message)}")
            return
        except KeyboardInterrupt:
            self._note("interrupted: this turn was not kept")
            return
        self.conversation.record(messages + added, usage=usage)
        self._count(usage)

    def _confirmer(self, live: Live, view: TurnView) -> ConfirmCallback:
        def confirm(name: str, arguments: dict[str, Any]) -> bool:
            with _paused(live, view):
                return click.confirm(f"Run {describe_call(name, arguments)}?", default=True)
        return confirm

    def _count(self, usage: dict[str, Any] | None) -> None:
        self.num_turns += 1
        if not usage:
            return
        details = usage.get("completion_tokens_details") or {}
        counted = {**usage, "reasoning_tokens": details.get("reasoning_tokens") or 0}
        for field in USAGE_FIELDS:
            self.usage[field] += int(counted.get(field) or 0)

    def _greet(self) -> None:
        where = self.client.connection.base_url
        self._note(f"qwenchat chat · {self.conversation.model} at {where} · /help for "
                   "commands, Ctrl-D to leave")
        if self.conversation.id is not None:
            self._note(f"continuing conversation {self.conversation.id} "
                       f"({len(self.conversation.messages)} messages)")

    def _note(self, text: str) -> None:
        self.console.print(text, style="dim", markup=False)

    def _model(self, name: str) -> None:
        if name:
            self.conversation.model = name
        self._note(f"model: {self.conversation.model}")

    def _think(self, argument: str) -> None:
        choice = argument.lower()
        if choice in ("on", "off", "default"):
            self.thinking = {"on": True, "off": False}.get(choice)
        elif choice in ("show", "hide"):
            self.is_reasoning_shown = choice == "show"
        elif choice:
            self._note("usage: /think on|off|default|show|hide")
            return
        state = {True: "on", False: "off", None: "the model's default"}[self.thinking]
        shown = "shown" if self.is_reasoning_shown else "collapsed"
        self._note(f"thinking: {state}; reasoning {shown}")

    def _system(self, text: str) -> None:
        if text:
            self.conversation.system = None if text == "-" else text
            if self.conversation.id is not None:
                self._note("(for this session: the stored conversation keeps its first "
                           "system prompt)")
        self._note(f"system: {self.conversation.system or '(none)'}")

    def _tools(self, _: str) -> None:
        if not self.options.tools:
            self._note("no tools loaded (use --tool MODULE:FUNCTION or --tools-file FILE.py)")
        for tool in self.options.tools:
            function = tool_from_function(tool)["function"]
            summary = (function.get("description") or "").splitlines()[:1]
            self._note(f"{function['name']}: {''.join(summary)}")

    def _save(self, argument: str) -> None:
        path = Path(argument or f"qwenchat-{self.conversation.id or 'unsaved'}.json")
        record = {"id": self.conversation.id, "model": self.conversation.model,
                  "system": self.conversation.system,
                  "messages": self.conversation.request_messages(), "usage": self.usage}
        try:
            path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        except OSError as exc:
            self._note(f"could not save {path}: {exc}")
            return
        self._note(f"saved {len(self.conversation.messages)} messages to {path}")

    def _clear(self, _: str) -> None:
        self.conversation.clear()
        self._note("new conversation")

    def _usage(self, _: str) -> None:
        used = self.usage
        self._note(f"this session: {used['prompt_tokens']} prompt + "
                   f"{used['completion_tokens']} completion ({used['reasoning_tokens']} "
                   f"reasoning) = {used['total_tokens']} tokens in {self.num_turns} turns")
        if self.conversation.id is not None:
            info = self.conversation.store.info(self.conversation.id)
            self._note(f"conversation {info['id']}: {info['prompt_tokens']} prompt + "
                       f"{info['completion_tokens']} completion tokens, "
                       f"{info['messages']} messages")

    def _help(self, _: str) -> None:
        self.console.print(HELP, markup=False, highlight=False)


@contextmanager
def _paused(live: Live, view: TurnView) -> Iterator[None]:
    """Stop the live view while the user answers a question, then go on below it."""
    live.stop()
    view.clear()
    try:
        yield
    finally:
        live.start()
