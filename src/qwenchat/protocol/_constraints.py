"""Output constraints: ``response_format`` and the ``grammar`` extension -> core values.

Rules kept here: ``response_format.type`` is ``text``, ``json_object`` or ``json_schema``;
``json_object`` needs the word "json" (any case) somewhere in the messages, with DashScope's
(and OpenAI's) own message; ``json_schema`` needs its ``json_schema`` object, and ``strict`` is
read inside it first, then beside it. ``grammar`` (a GBNF string) cannot be combined with a
JSON ``response_format``: two constraints on one output would silently fight.
"""

from __future__ import annotations

import json

from qwenchat.core import Message, ResponseFormat
from qwenchat.errors import InvalidParameter
from qwenchat.protocol._wire import WireResponseFormat

JSON_WORD_MISSING = (
    "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
    "'json_object'."
)


def _mentions_json(messages: tuple[Message, ...]) -> bool:
    return any("json" in message.content.lower() for message in messages)


def build_response_format(
    wire: WireResponseFormat | None, messages: tuple[Message, ...]
) -> ResponseFormat:
    """Convert ``response_format``; the messages are needed for the "json" word rule."""
    if wire is None or wire.type == "text":
        return ResponseFormat()
    if wire.type == "json_object":
        if not _mentions_json(messages):
            raise InvalidParameter(JSON_WORD_MISSING, param="response_format")
        return ResponseFormat(type="json_object")
    if wire.type != "json_schema":
        raise InvalidParameter(
            'Invalid value for \'response_format.type\': use "text", "json_object" or '
            f'"json_schema", got {json.dumps(wire.type)}.',
            param="response_format.type",
        )
    schema = wire.json_schema
    if schema is None:
        raise InvalidParameter(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
        )
    strict = schema.strict if schema.strict is not None else wire.strict
    return ResponseFormat(
        type="json_schema",
        name=schema.name,
        schema=dict(schema.schema_) if schema.schema_ is not None else None,
        strict=bool(strict),
    )


def check_grammar(grammar: str | None, response_format: ResponseFormat) -> str | None:
    """The ``grammar`` extension ("" reads as not given), refused beside JSON formats."""
    if not grammar:
        return None
    if response_format.type != "text":
        raise InvalidParameter(
            "'grammar' cannot be combined with a 'response_format' of type "
            f"'{response_format.type}'; send one constraint.",
            param="grammar",
        )
    return grammar
