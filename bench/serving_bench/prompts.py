"""Prompts of a given size in the model's own tokens: filler user messages and a numbered
system prompt, counted with the model's vocabulary and chat template."""

from __future__ import annotations

import random
from pathlib import Path

Messages = list[dict[str, str]]

WORDS = (
    "river", "stone", "lantern", "garden", "copper", "window", "harvest", "signal", "meadow",
    "orbit", "silver", "engine", "thunder", "market", "pencil", "island", "bridge", "canyon",
    "ember", "forest", "glacier", "harbor", "journal", "kettle", "ladder", "marble", "needle",
    "orchard", "pillow", "quarry", "ribbon", "saddle", "timber", "valley", "wagon", "anchor",
)

RULES = (
    "Greet the customer by name when they give one.",
    "Answer questions about opening hours, returns and deliveries.",
    "Never promise a refund before checking the receipt date.",
    "Suggest the cheapest tool that does the job.",
    "Ask one clarifying question when a request is ambiguous.",
    "Keep every answer under one hundred words.",
    "Recommend safety gear for any power tool.",
    "Do not discuss competitors' prices.",
)


class Tokenizer:
    """The model's vocabulary and chat template, to size prompts and count their tokens."""

    def __init__(self, model: Path) -> None:
        from llama_cpp import Llama

        from qwenchat.chat import ChatTemplate

        self._llama = Llama(model_path=str(model), n_ctx=256, vocab_only=True, verbose=False)
        self._template = ChatTemplate(self._llama.metadata.get("tokenizer.chat_template"))

    def count_text(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))

    def count_prompt(self, messages: Messages) -> int:
        from qwenchat.core import Message, Role

        rendered = self._template.render([Message(Role(m["role"]), m["content"])
                                          for m in messages])
        return len(self._llama.tokenize(rendered.encode(), add_bos=False, special=True))

    def filler(self, target: int, rng: random.Random, prefix: str = "") -> str:
        """``prefix`` plus words until the text is at least ``target`` tokens."""
        text = prefix
        while self.count_text(text) < target:
            text += " " + " ".join(rng.choice(WORDS) for _ in range(8))
        return text.strip()

    def system_prompt(self, target: int) -> str:
        """A fixed numbered list of rules of about ``target`` tokens."""
        lines = ["You are the assistant of a hardware store. Follow these rules:"]
        while self.count_text("\n".join(lines)) < target:
            number = len(lines)
            lines.append(f"{number}. {RULES[(number - 1) % len(RULES)]} "
                         f"(handbook section {number})")
        return "\n".join(lines)
