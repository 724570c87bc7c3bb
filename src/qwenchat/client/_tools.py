"""Python functions as OpenAI tools: definitions from type hints and docstrings, and loading.

Types map to JSON schema: ``str`` string, ``int`` integer, ``float`` number, ``bool`` boolean,
``list[X]``/``tuple[X, ...]``/``set[X]`` array of X, ``dict``/``dict[str, X]`` object,
``Literal[...]`` and ``Enum`` subclasses enum, ``X | None`` ``anyOf`` X or null; an unannotated
or ``Any`` parameter accepts anything. A parameter with a default is not required (and its
JSON default is stated). The docstring's text before its first section becomes the
description; ``Args:`` (Google style) or ``:param x:`` (Sphinx style) lines describe the
parameters.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import inspect
import json
import re
import sys
import types
import typing
from collections import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qwenchat.client._errors import EXIT_USAGE, ClientError

_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number",
                               bool: "boolean", type(None): "null"}
_ARRAYS = {list, tuple, set, frozenset, abc.Sequence, abc.Iterable, abc.Set}
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns?|Yields?|Raises|Examples?|"
                      r"Notes?|See Also|Attributes)\s*:\s*$|^\s*:(param|returns?|raises|type|"
                      r"rtype)\b", re.I)
_GOOGLE_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_ARG = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NOT_JSON = object()


def tool_from_function(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool definition (``{"type": "function", "function": {...}}``) of ``fn``."""
    name = getattr(fn, "__name__", "")
    if not _NAME.match(name) or name == "search":
        raise ClientError(f"Cannot use {name!r} as a tool name: use letters, digits, _ or - "
                          "(at most 64), and not `search` (DashScope reserves it).",
                          exit_code=EXIT_USAGE)
    description, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # unresolvable forward references, mostly
        raise ClientError(f"Cannot read the type hints of {name}: {exc}",
                          exit_code=EXIT_USAGE) from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = type_schema(hints.get(param.name, Any))
        if param.name in arg_docs:
            schema["description"] = arg_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif (default := _as_json(param.default)) is not _NOT_JSON:
            schema["default"] = default
        properties[param.name] = schema
    function: dict[str, Any] = {"name": name}
    if description:
        function["description"] = description
    function["parameters"] = {"type": "object", "properties": properties,
                              "required": required}
    return {"type": "function", "function": function}


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of one type hint."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint in _PRIMITIVES:
        return {"type": _PRIMITIVES[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([member.value for member in hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin in (typing.Union, types.UnionType):
        schemas = [type_schema(arg) for arg in args]
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if hint in _ARRAYS or origin in _ARRAYS:
        items = [arg for arg in args if arg is not Ellipsis]
        return {"type": "array", **({"items": type_schema(items[0])} if items else {})}
    if hint is dict or origin is dict:
        value = args[1] if len(args) == 2 else Any
        extra = type_schema(value)
        return {"type": "object", **({"additionalProperties": extra} if extra else {})}
    raise ClientError(f"Cannot describe the type {hint!r} in JSON schema: use str, int, "
                      "float, bool, list, dict, Literal, Enum or Optional.", exit_code=EXIT_USAGE)


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` of a Google- or Sphinx-style docstring."""
    lines = doc.expandtabs().splitlines()
    first = next((i for i, line in enumerate(lines) if _SECTION.match(line)), len(lines))
    description = "\n\n".join(" ".join(part.split()) for part in
                              "\n".join(lines[:first]).split("\n\n") if part.strip())
    args: dict[str, str] = {}
    current: str | None = None
    arg_indent: int | None = None  # of the Google-style entries; deeper lines continue one
    for line in lines[first:]:
        stripped = line.strip()
        if re.match(r"^(Args|Arguments|Parameters)\s*:$", stripped, re.I):
            arg_indent, current = -1, None
        elif (match := _SPHINX_ARG.match(stripped)) is not None:
            current, arg_indent = match.group(1), None
            args[current] = match.group(2).strip()
        elif _SECTION.match(line):
            arg_indent, current = None, None
        elif (arg_indent is not None and (match := _GOOGLE_ARG.match(stripped))
              and (arg_indent < 0 or _indent(line) <= arg_indent)):
            arg_indent, current = _indent(line), match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current is not None and stripped:
            args[current] = f"{args[current]} {stripped}".strip()
    return description, args


def call_tool(fn: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """``fn(**arguments)``, with values for ``Enum``-typed parameters turned into members."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # tool_from_function reported it already; call with the raw values
        hints = {}
    values = dict(arguments)
    for name, value in arguments.items():
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
            values[name] = hint(value)
    return fn(**values)


def load_tool(spec: str) -> Callable[..., Any]:
    """The function named by ``package.module:function`` or ``path/to/file.py:function``."""
    where, sep, attribute = spec.rpartition(":")
    if not sep or not where or not attribute:
        raise ClientError(f"Tool {spec!r} should look like `module:function` or "
                          "`path/to/file.py:function`.", exit_code=EXIT_USAGE)
    target: Any = load_module(where)
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ClientError(f"Tool {spec!r}: {where} has no `{attribute}`.",
                              exit_code=EXIT_USAGE)
    if not callable(target):
        raise ClientError(f"Tool {spec!r} is not a function.", exit_code=EXIT_USAGE)
    return typing.cast(Callable[..., Any], target)


def load_tools(spec: str) -> list[Callable[..., Any]]:
    """``load_tool`` for ``x:function``; for a bare module or file, all its public functions
    (those in ``__all__``, else those it defines whose names do not start with ``_``)."""
    if ":" in spec.replace(":\\", "").replace(":/", ""):
        return [load_tool(spec)]
    module = load_module(spec)
    names = getattr(module, "__all__", None) or [
        name for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__
        and not name.startswith("_")]
    tools = [getattr(module, name) for name in names if callable(getattr(module, name, None))]
    if not tools:
        raise ClientError(f"{spec} defines no public functions to use as tools.",
                          exit_code=EXIT_USAGE)
    return tools


def load_module(where: str) -> types.ModuleType:
    """A module by dotted name, or a ``.py`` file by path (also ``name`` -> ``./name.py``)."""
    path = Path(where)
    if where.endswith(".py") or "/" in where or "\\" in where:
        return _module_from_file(path)
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        local = Path(*where.split(".")).with_suffix(".py")
        if exc.name == where.split(".")[0] and local.is_file():
            return _module_from_file(local)
        raise ClientError(f"Cannot import {where!r}: {exc}. Is it installed, or on "
                          "PYTHONPATH? A file works too: `path/to/file.py:function`.",
                          exit_code=EXIT_USAGE) from exc
    except Exception as exc:  # the module's own code failed: report it, do not crash
        raise ClientError(f"Importing {where!r} failed: {type(exc).__name__}: {exc}",
                          exit_code=EXIT_USAGE) from exc


def _module_from_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise ClientError(f"No tools file {path}.", exit_code=EXIT_USAGE)
    name = f"qwenchat_tools_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ClientError(f"Cannot load {path} as Python.", exit_code=EXIT_USAGE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the file's own code failed: report it, do not crash
        del sys.modules[name]
        raise ClientError(f"Loading {path} failed: {type(exc).__name__}: {exc}",
                          exit_code=EXIT_USAGE) from exc
    return module


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {_PRIMITIVES.get(type(value)) for value in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _as_json(value: Any) -> Any:
    """``value`` as JSON has it (an Enum member as its value), or ``_NOT_JSON``."""
    try:
        return json.loads(json.dumps(value.value if isinstance(value, enum.Enum) else value))
    except (TypeError, ValueError):
        return _NOT_JSON


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
