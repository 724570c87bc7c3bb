"""Qwen's text format: the tags a Qwen3 model writes and reads, defined once for every layer.

* Reasoning is the text between :data:`THINK_OPEN` and :data:`THINK_CLOSE`; a thinking
  budget that is spent closes it with :data:`END_REASONING`, as Qwen3 itself does.
* A tool call is a block between :data:`CALL_OPEN` and :data:`CALL_CLOSE`. In Qwen3's
  Hermes form it is :data:`CALL_PREFIX`, ``{"name": ..., "arguments": {...}}``, then
  :data:`CALL_SUFFIX` (Qwen3-Coder writes XML between the same tags instead).
* The tools a prompt offers are listed between :data:`TOOLS_OPEN` and :data:`TOOLS_CLOSE`;
  a tool's result goes back between :data:`TOOL_RESPONSE_OPEN` and
  :data:`TOOL_RESPONSE_CLOSE`.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

END_REASONING = f"\n{THINK_CLOSE}\n\n"
"""Injected when a thinking budget is spent: closes the reasoning the way Qwen3 does."""

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
CALL_PREFIX = f"{CALL_OPEN}\n"
"""What opens a Hermes call, before its JSON."""
CALL_SUFFIX = f"\n{CALL_CLOSE}"
"""What closes a Hermes call, after its JSON."""

TOOLS_OPEN = "<tools>"
TOOLS_CLOSE = "</tools>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"
