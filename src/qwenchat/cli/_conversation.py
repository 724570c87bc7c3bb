"""One chat's history, stored as it happens, and the sending of one turn of it.

Rules: the system prompt is kept apart from the turns (it is always sent first); a
conversation is created in the client's ConversationStore only when its first turn is
recorded, so a session that never sends anything leaves no empty conversation behind; a turn
is recorded only once it has an answer, so an interrupted or failed turn is not kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from qwenchat.client import ChatClient, ConversationStore, history_message, run_tool_loop

Message = dict[str, Any]
TextCallback = Callable[[str], None]
CallCallback = Callable[[str, dict[str, Any]], None]  # a tool's name and arguments
ConfirmCallback = Callable[[str, dict[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """What every turn needs, one-shot or interactive."""

    tools: tuple[Callable[..., Any], ...]
    max_steps: int
    confirm: bool
    hide_reasoning: bool


@dataclass(frozen=True, slots=True)
class TurnDisplay:
    """Where a turn's pieces go as they arrive; ``confirm`` None runs every call."""

    on_content: TextCallback | None
    on_reasoning: TextCallback | None
    on_call: CallCallback
    confirm: ConfirmCallback | None


class Conversation:
    """The turns of one chat so far, stored as they happen."""

    def __init__(self, store: ConversationStore, *, model: str, system: str | None,
                 messages: list[Message] | None = None,
                 conversation_id: str | None = None) -> None:
        self.store = store
        self.model = model
        self.system = system
        self.messages: list[Message] = list(messages or [])
        self.id = conversation_id
        self._stored_model = model if conversation_id is not None else None

    @classmethod
    def resume(cls, store: ConversationStore, conversation_id: str | None) -> Conversation:
        """Load a stored conversation (the latest one when ``conversation_id`` is None)."""
        if conversation_id is None:
            conversation_id = store.latest()
            if conversation_id is None:
                raise click.UsageError("There is no conversation to continue yet.")
        info = store.info(conversation_id)
        turns = [m for m in store.messages(info["id"]) if m.get("role") != "system"]
        return cls(store, model=info["model"], system=info["system"], messages=turns,
                   conversation_id=info["id"])

    def request_messages(self, *extra: Message) -> list[Message]:
        """The messages to send: the system prompt, the turns so far, then ``extra``."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, *self.messages, *extra]

    def record(self, messages: list[Message], usage: dict[str, Any] | None = None) -> None:
        """Append one exchange (user message, any tool traffic, the answer) to the history."""
        if not messages:
            return
        if self.id is None:
            self.id = self.store.create(model=self.model, system=self.system)
        elif self.model != self._stored_model:
            self.store.set_model(self.id, self.model)
        self._stored_model = self.model
        for message in messages[:-1]:
            self.store.append(self.id, message)
        self.store.append(self.id, messages[-1], usage=usage)
        self.messages.extend(messages)

    def clear(self) -> None:
        """Start afresh: the next turn opens a new stored conversation."""
        self.messages = []
        self.id = self._stored_model = None


def send_turn(client: ChatClient, request: dict[str, Any], options: ChatOptions,
              display: TurnDisplay, *,
              stream: bool) -> tuple[dict[str, Any], list[Message], dict[str, Any] | None]:
    """Send ``request`` (through the tool loop when tools are loaded).

    Returns the final response, the messages the turn added after the request's own (the
    assistant's tool calls, the tool results, the answer) and the turn's usage, summed over
    every request a tool loop made.
    """
    if options.tools:
        result = run_tool_loop(client, request, list(options.tools),
                               max_steps=options.max_steps, stream=stream,
                               on_content=display.on_content,
                               on_reasoning=display.on_reasoning,
                               on_call=display.on_call, confirm=display.confirm)
        added = list(result.messages[len(request["messages"]):])
        return result.response, added, result.usage
    response = client.complete(request, stream=stream, on_content=display.on_content,
                               on_reasoning=display.on_reasoning)
    return response, [answer_message(response)], response.get("usage")


def answer_message(response: dict[str, Any]) -> Message:
    """The assistant message of ``response`` as the history keeps it."""
    choices = response.get("choices") or []
    return history_message((choices[0].get("message") or {}) if choices else {})
