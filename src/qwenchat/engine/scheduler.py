"""The batched engine's policy: which sequence runs in which slot, with which tokens, now.

Pure and synchronous — no llama.cpp, no threads, no clock — so every rule is tested directly.
The engine thread asks :meth:`Scheduler.schedule` for a :class:`Step`, carries out its cache
operations and its decodes, then calls :meth:`Scheduler.commit` and, for each sequence that
got logits, :meth:`Scheduler.sampled`.

The rules:

- **Slots.** A slot is one sequence's KV cache (llama.cpp sequence id = slot index). It
  remembers the tokens it holds after its sequence ends, for the next request to reuse.
- **Admission** is first come, first served over the waiting sequences that can start. A
  sequence takes a free slot: one whose cache it can extend without discarding anything (its
  conversation's last turn, or an empty slot), longest reuse first; else the one with the
  longest reusable prefix, least recently used on ties — the eviction order. A slot's content
  about to be discarded is first saved to host memory (when a budget is set). When another
  slot or a saved prefix offers at least ``min_copy_tokens`` more, that cache is copied in.
  How much may be reused — prefilled tokens only, or generated ones too — is the
  :class:`~qwenchat.engine.prefixes.ReuseMode` (prefixes.py says why).
- **Siblings** (the choices of one ``n > 1`` request) wait while their leader prefills the
  prompt, then copy its cache, so the prompt is read once.
- **Steps** carry one token for every decoding sequence, then prompt chunks of the prefilling
  sequences in admission order, within ``max_step_tokens`` — and within ``prefill_chunk`` when
  any sequence is decoding, so a long prompt never stalls the others for long. No chunk is a
  single token (unless the prompt is): llama.cpp computes a lone row differently.
- **Space.** A decoding sequence whose slot is full is handed back in ``Step.out_of_space``
  (the engine ends it with ``length``); nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qwenchat.engine.prefixes import HostStore, ReuseMode, StoredPrefix, reuse_limit, usable_prefix


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Sizes the policy works within."""

    num_slots: int
    slot_capacity: int  # tokens one slot's cache holds (the per-sequence context)
    max_step_tokens: int  # tokens one decode step carries at most (llama.cpp's n_batch)
    prefill_chunk: int  # prompt tokens per step while other sequences decode
    min_copy_tokens: int = 64  # copy or save a cache only when this many tokens are at stake
    reuse: ReuseMode = ReuseMode.EXACT
    host_cache_tokens: int = 0  # tokens of evicted caches kept in host memory; 0: none

    def __post_init__(self) -> None:
        if self.num_slots < 1 or self.slot_capacity < 2:
            raise ValueError("need at least one slot of at least two tokens")
        if not 1 <= self.prefill_chunk <= self.max_step_tokens:
            raise ValueError("prefill_chunk must be within 1..max_step_tokens")
        if self.max_step_tokens < self.num_slots:
            raise ValueError("a step must fit one token of every slot")


@dataclass(eq=False)
class Slot:
    """One sequence's KV cache: the tokens it holds and who uses it."""

    index: int
    tokens: list[int] = field(default_factory=list)  # tokens[i] is cached at position i
    exact: int = 0  # leading tokens computed by prompt prefill (the rest were generated)
    seq: Seq | None = None
    last_used: int = 0  # the step in which it was last assigned or released


@dataclass(eq=False)
class Seq:
    """The scheduler's view of one generating sequence."""

    prompt: Sequence[int]
    leader: Seq | None = None  # set on the choices after the first of an ``n > 1`` request
    slot: Slot | None = None
    cached: int = 0  # prompt tokens reused from a cache
    computed: int = 0  # prompt tokens in the slot's cache, the reused ones included
    pending: int | None = None  # the last sampled token, decoded in the next step
    is_finished: bool = False

    @property
    def is_prefilling(self) -> bool:
        return (not self.is_finished and self.slot is not None
                and self.computed < len(self.prompt))

    @property
    def position(self) -> int:
        """Where the next decoded token goes (the number of tokens the slot holds)."""
        return len(self.slot.tokens) if self.slot is not None else 0


@dataclass(frozen=True, slots=True)
class Admission:
    """A sequence taking a slot. In order: save the slot's old content as ``save``, drop
    ``evict`` from host memory, load ``copy_from`` (another slot) or ``restore`` (a saved
    prefix) into the slot, then keep its first ``reuse`` tokens."""

    seq: Seq
    slot: Slot
    reuse: int
    copy_from: Slot | None = None
    restore: StoredPrefix | None = None
    save: StoredPrefix | None = None
    evict: tuple[StoredPrefix, ...] = ()


@dataclass(frozen=True, slots=True)
class PromptChunk:
    """Prompt tokens ``start:end`` of ``seq``; the last chunk's last token wants logits."""

    seq: Seq
    start: int
    end: int

    @property
    def is_last(self) -> bool:
        return self.end == len(self.seq.prompt)


@dataclass
class Step:
    """What one engine step does, in order: cache operations, then the decodes."""

    admissions: list[Admission] = field(default_factory=list)
    decode: list[Seq] = field(default_factory=list)  # one pending token each
    prefill: list[PromptChunk] = field(default_factory=list)
    out_of_space: list[Seq] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return len(self.decode) + sum(chunk.end - chunk.start for chunk in self.prefill)

    @property
    def sampling(self) -> list[Seq]:
        """The sequences that sample a token after this step's decode, in slot order."""
        seqs = self.decode + [chunk.seq for chunk in self.prefill if chunk.is_last]
        return sorted(seqs, key=_slot_index)


class Scheduler:
    """Continuous batching over a fixed set of slots with prefix reuse."""

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        self.slots = [Slot(index) for index in range(config.num_slots)]
        self.host = HostStore(config.host_cache_tokens)
        self._waiting: list[Seq] = []
        self._running: list[Seq] = []  # in admission order
        self._tick = 0

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    @property
    def is_idle(self) -> bool:
        return not self._waiting and not self._running

    def add(self, seq: Seq) -> None:
        """Queue ``seq``; its prompt must fit a slot with room for one more token."""
        if not 1 <= len(seq.prompt) < self.config.slot_capacity:
            raise ValueError(f"a prompt of {len(seq.prompt)} tokens does not fit a slot")
        self._waiting.append(seq)

    def finish(self, seq: Seq) -> None:
        """``seq`` has ended (or was cancelled); its slot keeps its cache for reuse.
        Finishing a finished sequence does nothing (its slot may serve another by now)."""
        if seq.is_finished:
            return
        seq.is_finished = True
        seq.pending = None
        if seq in self._waiting:
            self._waiting.remove(seq)
        if seq in self._running:
            self._running.remove(seq)
        if seq.slot is not None and seq.slot.seq is seq:
            seq.slot.seq = None
            seq.slot.last_used = self._tick

    def read_whole_prompt(self, seq: Seq) -> None:
        """The engine could not load ``seq``'s reused prefix: its slot holds nothing, and
        the whole prompt is read."""
        assert seq.slot is not None
        self.forget(seq.slot)
        seq.cached = seq.computed = 0

    def forget(self, slot: Slot) -> None:
        """The engine lost ``slot``'s cache (a failed decode): hold nothing there."""
        slot.tokens.clear()
        slot.exact = 0

    def schedule(self) -> Step:
        """Admit what can start, then plan the next decode."""
        self._tick += 1
        step = Step()
        self._admit(step)
        budget = self.config.max_step_tokens
        for seq in sorted(self._running, key=_slot_index):
            if seq.pending is None:
                continue
            if seq.position >= self.config.slot_capacity:
                step.out_of_space.append(seq)
                continue
            step.decode.append(seq)
            budget -= 1
        prefill_budget = min(budget, self.config.prefill_chunk) if step.decode else budget
        for seq in self._running:
            if not seq.is_prefilling:
                continue
            end = _chunk_end(seq, prefill_budget)
            if end is None:
                break
            step.prefill.append(PromptChunk(seq, seq.computed, end))
            prefill_budget -= end - seq.computed
        return step

    def commit(self, step: Step) -> None:
        """``step``'s decode succeeded: its tokens are now in the slots' caches."""
        for seq in step.decode:
            assert seq.slot is not None and seq.pending is not None
            seq.slot.tokens.append(seq.pending)
            seq.pending = None
        for chunk in step.prefill:
            slot = chunk.seq.slot
            assert slot is not None
            if slot.exact == len(slot.tokens):
                slot.exact += chunk.end - chunk.start
            slot.tokens.extend(chunk.seq.prompt[chunk.start:chunk.end])
            chunk.seq.computed = chunk.end

    def sampled(self, seq: Seq, token: int) -> None:
        """``seq`` continues with ``token`` (decoded in the next step)."""
        seq.pending = token

    def _admit(self, step: Step) -> None:
        for seq in list(self._waiting):
            free = [slot for slot in self.slots if slot.seq is None]
            if not free:
                return
            if seq.leader is not None and seq.leader.is_prefilling:
                continue  # read the prompt once: wait for the leader, then copy its cache
            admission = self._place(seq, free)
            slot = admission.slot
            source = admission.copy_from or admission.restore
            if source is not None:
                slot.tokens, slot.exact = list(source.tokens), source.exact
            del slot.tokens[admission.reuse:]
            slot.exact = min(slot.exact, admission.reuse)
            slot.seq, slot.last_used = seq, self._tick
            if admission.restore is not None:
                admission.restore.last_used = self._tick
            seq.slot, seq.cached, seq.computed = slot, admission.reuse, admission.reuse
            self._waiting.remove(seq)
            self._running.append(seq)
            step.admissions.append(admission)

    def _place(self, seq: Seq, free: list[Slot]) -> Admission:
        """The slot ``seq`` takes, and where its reused prefix comes from."""
        prompt, limit, mode = seq.prompt, reuse_limit(seq.prompt), self.config.reuse

        def in_place(slot: Slot) -> int:
            return usable_prefix(slot.tokens, slot.exact, prompt, limit, mode)

        def keeps_everything(slot: Slot) -> bool:
            return in_place(slot) >= self._worth(slot)

        slot = max(free, key=lambda slot: (keeps_everything(slot), in_place(slot),
                                           -slot.last_used))
        reuse, worth = in_place(slot), self._worth(slot)
        save: StoredPrefix | None = None
        evict: tuple[StoredPrefix, ...] = ()
        if (self.host.budget and worth - reuse >= self.config.min_copy_tokens
                and not self.host.covers(slot.tokens[:worth])):
            save, dropped = self.host.add(slot.tokens[:worth], slot.exact, self._tick)
            evict = tuple(dropped)

        def stored_prefix(entry: StoredPrefix) -> int:
            return usable_prefix(entry.tokens, entry.exact, prompt, limit, mode)

        donor = max((other for other in self.slots if other is not slot and other.tokens),
                    key=in_place, default=None)
        stored = max((entry for entry in self.host.entries if entry is not save),
                     key=stored_prefix, default=None)
        donor_reuse = in_place(donor) if donor is not None else 0
        stored_reuse = stored_prefix(stored) if stored is not None else 0
        if max(donor_reuse, stored_reuse) - reuse < self.config.min_copy_tokens:
            return Admission(seq, slot, reuse, save=save, evict=evict)
        if donor_reuse >= stored_reuse:
            return Admission(seq, slot, donor_reuse, copy_from=donor, save=save, evict=evict)
        return Admission(seq, slot, stored_reuse, restore=stored, save=save, evict=evict)

    def _worth(self, slot: Slot) -> int:
        """Tokens of ``slot`` another prompt could reuse."""
        if self.config.reuse is ReuseMode.OFF:
            return 0
        return slot.exact if self.config.reuse is ReuseMode.EXACT else len(slot.tokens)


def _chunk_end(seq: Seq, budget: int) -> int | None:
    """Where ``seq``'s next prompt chunk ends within ``budget`` tokens; None if it cannot
    start in this step. Never leaves or makes a one-token chunk (unless the prompt is one)."""
    start, length = seq.computed, len(seq.prompt)
    end = min(length, start + budget)
    if end - start < min(2, length - start):
        return None
    if length - end == 1:  # the remainder would be a lone token: end one earlier...
        end = end - 1 if end - start >= 3 else length  # ...or take it now
    return end


def _slot_index(seq: Seq) -> int:
    return seq.slot.index if seq.slot is not None else -1
