"""Constrained decoding on llguidance: grammars compiled within bounds, matched per choice.

llama.cpp's own grammar engine ends the whole process on several inputs a client can send
(a grammar whose stack empties, repetitions nested thousands deep by a large ``maxLength``,
a token it is made to accept but cannot match: a C++ exception or ``GGML_ABORT`` across
ctypes). So no grammar text reaches llama.cpp. llguidance (Rust) never raises or aborts on a
grammar or a token: a fault puts the matcher into an error state that is read here. Its
mask over Qwen's 152k vocabulary also costs ~0.02 ms where llama.cpp's costs ~20 ms
(BENCHMARKS.md, "Grammar backends").

Bounds: a grammar is compiled (on the caller's thread, never the engine's) with
the bounds below on its size, its lexer's states and the work per step; one over a bound is a
400 naming the limit. During generation a choice whose grammar allows no next token, or
whose matcher fails, ends with :class:`~qwenchat.errors.ConstraintDeadEnd` (its own 400,
in-band once a stream has started) — never the process.

The tokenizer is built from the model's vocabulary once per model. Tokens are their text,
user-defined ones (Qwen's ``<tool_call>``) included, so a grammar literal ``"<tool_call>"``
matches the special token or its text in pieces alike; only control tokens are special,
and the end-of-generation tokens end a grammar that is complete.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from llguidance import LLMatcher, LLParserLimits, LLTokenizer

from qwenchat.engine.llama import LlamaModel
from qwenchat.errors import ConstraintDeadEnd, InvalidParameter

# llguidance's defaults, tightened where one request could otherwise hold a core: a compile
# takes at most ~20 ms of lexer work, a mask step ~15 ms (llguidance's own speed figures).
MAX_GRAMMAR_SYMBOLS = 200_000  # symbols in the grammar's productions
MAX_LEXER_STATES = 50_000  # distinct lexer states (~1-2 kB each)
COMPILE_LEXER_FUEL = 1_000_000  # lexer work to build the grammar (~50k/ms)
STEP_LEXER_FUEL = 200_000  # lexer work per token (~14k/ms)
STEP_MAX_ITEMS = 50_000  # Earley items per token (~20k/ms)
MAX_ITEMS_IN_ROW = 2_000  # alternatives in one production


def _limits() -> LLParserLimits:
    return LLParserLimits(
        max_items_in_row=MAX_ITEMS_IN_ROW, initial_lexer_fuel=COMPILE_LEXER_FUEL,
        step_lexer_fuel=STEP_LEXER_FUEL, step_max_items=STEP_MAX_ITEMS,
        max_lexer_states=MAX_LEXER_STATES, max_grammar_size=MAX_GRAMMAR_SYMBOLS,
        verbose_errors=False)


class GrammarCompiler:
    """One model's tokenizer for llguidance, and the compiler of its grammars;
    ``longest_token``: bytes in the vocabulary's longest token text."""

    def __init__(self, model: LlamaModel) -> None:
        self.n_vocab = model.n_vocab
        self._tokenizer, self.longest_token = _tokenizer(model)

    def compile(self, grammar: str, *, what: str = "grammar",
                param: str = "grammar") -> Constraint:
        """``grammar`` (from :mod:`~qwenchat.engine.grammars`) ready to match; a 400 naming
        the fault or the limit if it cannot be compiled within the bounds above (``what``
        and ``param`` name the request field it came from)."""
        matcher = LLMatcher(self._tokenizer, grammar, log_level=0, limits=_limits())
        if matcher.is_error():
            raise InvalidParameter(_describe(matcher.get_error(), what), param=param)
        return Constraint(matcher, self.n_vocab)


class Constraint:
    """A compiled grammar: each choice matches with its own copy (:meth:`matcher`)."""

    def __init__(self, prototype: LLMatcher, n_vocab: int) -> None:
        self._prototype = prototype
        self.n_vocab = n_vocab

    def matcher(self) -> Matcher:
        return Matcher(self._prototype.deep_copy(), self.n_vocab)


class Matcher:
    """One choice's position in its grammar."""

    def __init__(self, matcher: LLMatcher, n_vocab: int) -> None:
        self._matcher = matcher
        self._n_vocab = n_vocab

    def allows(self, token: int) -> bool:
        """Whether ``token`` may come next."""
        return self._matcher.validate_tokens([token]) == 1

    def mask(self, logits: npt.NDArray[np.float32]) -> None:
        """Set the logits of every token the grammar refuses to -inf, in place; raise
        ``ConstraintDeadEnd`` if it allows none."""
        self.apply_mask(self.compute_mask(), logits)

    def compute_mask(self) -> bytes:
        """The bitmask of the tokens allowed next. Safe on any thread while no other call
        on this matcher runs (llguidance releases the GIL): a hard grammar can take tens of
        milliseconds here, so the engine computes it beside its other work."""
        return self._matcher.compute_bitmask()

    def apply_mask(self, mask: bytes, logits: npt.NDArray[np.float32]) -> None:
        """:meth:`mask` with a bitmask from :meth:`compute_mask`."""
        bits = np.frombuffer(mask, dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little")[: self._n_vocab].astype(bool)
        self._check()
        if not allowed.any():
            raise ConstraintDeadEnd()
        logits[~allowed[: len(logits)]] = -np.inf

    def consume(self, token: int) -> None:
        """Advance past ``token`` (one :meth:`allows` said yes to)."""
        if not self._matcher.consume_token(token):
            self._check()
            raise ConstraintDeadEnd()

    def _check(self) -> None:
        if self._matcher.is_error():
            raise ConstraintDeadEnd(_describe(self._matcher.get_error()))


def _describe(error: str, what: str = "grammar") -> str:
    first = error.strip().splitlines()[0] if error.strip() else "unknown fault"
    return f"The {what} cannot be enforced: {first[:300]}"


def _tokenizer(model: LlamaModel) -> tuple[LLTokenizer, int]:
    """llguidance's tokenizer of ``model``'s vocabulary, and the bytes in its longest token's
    text (special tokens as written): a text of ``n`` characters has at least
    ``n / longest`` tokens. One pass over the vocabulary (~0.3 s for Qwen's)."""
    vocab = llama_cpp.llama_model_get_vocab(model.handle)
    tokens: list[bytes] = []
    end_tokens: list[int] = []
    longest = 0
    for token in range(model.n_vocab):
        text = model.token_bytes(token, special=True)
        longest = max(longest, len(text))
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        if attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
            text = b"\xff" + text  # llguidance's mark of a special token
        if model.is_end_of_generation(token):
            end_tokens.append(token)
        tokens.append(text)
    tokenize: Any = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p)
    tokenizer: LLTokenizer = LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]
        tokens=tokens, vocab_ptr=vocab, tokenize_fptr=tokenize.value,
        eos_token=end_tokens or [llama_cpp.llama_vocab_eos(vocab)], slices=None)
    return tokenizer, longest


__all__ = ["Constraint", "GrammarCompiler", "Matcher"]
