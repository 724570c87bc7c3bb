"""qwenchat: Qwen text chat behind DashScope's OpenAI-compatible API.

The package serves chat completions on an embedded llama.cpp engine (``qwenchat serve``)
and fetches model files (``qwenchat pull``). docs/architecture.md describes its layers.
"""

__version__ = "0.1.0"
