"""Request fields outside qwenchat's contract that OpenAI-style clients send.

Each is either refused — it would change the answer, and nothing here can honour it — or
ignored, because here it changes neither the answer nor its cost (docs/api.md, "Fields
qwenchat does not know", gives the reason for each). A refused field is refused only when it
asks for something: ``null``, ``false`` and the values that ask for the default pass. Any
other unknown field is ignored and logged by name, never by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwenchat.errors import InvalidParameter

# field -> (the values that ask for nothing, what to use instead)
_REFUSED: dict[str, tuple[tuple[Any, ...], str]] = {
    "functions": ((None, []), "use tools"),
    "function_call": ((None, "auto", "none"), "use tool_choice"),
    "reasoning_effort": ((None,), "use enable_thinking and thinking_budget"),
    "verbosity": ((None,), "ask for the length you want in the messages"),
    "modalities": ((None, ["text"]), "these models answer in text only"),
    "audio": ((None,), "these models answer in text only"),
    "web_search_options": ((None,), "web search is not available here"),
    "enable_code_interpreter": ((None, False), "the code interpreter is not available here"),
}


def check_extras(extra: Mapping[str, Any]) -> None:
    """Raise ``InvalidParameter`` for the first field of ``extra`` (the body's fields outside
    the contract) that asks for something this service cannot do."""
    for name, (harmless, instead) in _REFUSED.items():
        if name in extra and extra[name] not in harmless:
            raise InvalidParameter(f"The parameter {name} is not supported: {instead}.",
                                   param=name)
