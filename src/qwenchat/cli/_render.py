"""How ``qwenchat chat`` shows a response: plain streams for scripts, rich views for people.

Rules: in one-shot mode the answer goes to stdout untouched (no markdown, no colour) so that
it can be piped, and everything else (reasoning, tool calls) goes to stderr, dimmed on a
terminal. The interactive view renders the answer as markdown and keeps the reasoning
collapsed to one line unless asked to show it.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text


class StreamPrinter:
    """One-shot output: content to stdout (or stderr), reasoning dimmed to stderr."""

    def __init__(self, *, hide_reasoning: bool, content_to_stderr: bool = False) -> None:
        self.hide_reasoning = hide_reasoning
        self.content_to_stderr = content_to_stderr
        self.is_reasoning_open = False
        self.is_content_open = False

    def reasoning(self, text: str) -> None:
        """Show a piece of reasoning (unless hidden)."""
        if self.hide_reasoning or not text:
            return
        click.secho(text, dim=True, err=True, nl=False)
        self.is_reasoning_open = True

    def content(self, text: str) -> None:
        """Show a piece of the answer."""
        if not text:
            return
        self._close_reasoning()
        click.echo(text, nl=False, err=self.content_to_stderr)
        self.is_content_open = True

    def call(self, line: str) -> None:
        """Show one executed tool call on stderr, on a line of its own."""
        self._close_reasoning()
        self._close_content()
        click.secho(line, dim=True, err=True)

    def finish(self) -> None:
        """End the open lines, so the shell prompt starts on a line of its own."""
        self._close_reasoning()
        self._close_content()

    def _close_reasoning(self) -> None:
        if self.is_reasoning_open:
            click.echo("", err=True)
            self.is_reasoning_open = False

    def _close_content(self) -> None:
        if self.is_content_open:
            click.echo("", err=self.content_to_stderr)
            self.is_content_open = False


def message_of(response: dict[str, Any]) -> dict[str, Any]:
    """The first choice's message of a normalised response (empty if it has none)."""
    choices = response.get("choices") or []
    return dict(choices[0].get("message") or {}) if choices else {}


def describe_call(name: str, arguments: Any) -> str:
    """One line that tells the user which tool the model called, and with what."""
    shown = arguments if isinstance(arguments, str) else json.dumps(arguments,
                                                                    ensure_ascii=False)
    return f"→ {name}({shown})"


class TurnView:
    """The live view of one interactive turn: reasoning, tool calls, the markdown answer."""

    def __init__(self, *, show_reasoning: bool) -> None:
        self.show_reasoning = show_reasoning
        self.reasoning = ""
        self.content = ""
        self.calls: list[str] = []

    def add_reasoning(self, text: str) -> None:
        """Take a piece of reasoning."""
        self.reasoning += text

    def add_content(self, text: str) -> None:
        """Take a piece of the answer."""
        self.content += text

    def add_call(self, line: str) -> None:
        """Take the description of one executed tool call."""
        self.calls.append(line)

    def clear(self) -> None:
        """Forget what has been shown, once it is printed for good (before a question)."""
        self.reasoning = self.content = ""
        self.calls = []

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.reasoning:
            if self.show_reasoning:
                parts.append(Text(self.reasoning.strip(), style="dim"))
            else:
                summary = f"thinking… ({len(self.reasoning)} chars, /think show to expand)"
                parts.append(Text(summary, style="dim italic"))
        parts.extend(Text(line, style="cyan") for line in self.calls)
        if self.content:
            parts.append(Markdown(self.content))
        return Group(*parts)
