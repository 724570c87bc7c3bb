"""The scheduling policy, driven step by step without llama.cpp: admission, prefix reuse and
eviction, siblings, chunked prefill, fairness, cancellation and running out of space."""

from __future__ import annotations

import pytest

from qwenchat.engine.prefixes import HostStore, ReuseMode
from qwenchat.engine.scheduler import Scheduler, SchedulerConfig, Seq, Step


def make(num_slots: int = 2, *, capacity: int = 64, step_tokens: int = 16, chunk: int = 8,
         min_copy: int = 4, reuse: ReuseMode = ReuseMode.FULL,
         host: int = 0) -> Scheduler:
    return Scheduler(SchedulerConfig(num_slots=num_slots, slot_capacity=capacity,
                                     max_step_tokens=step_tokens, prefill_chunk=chunk,
                                     min_copy_tokens=min_copy, reuse=reuse,
                                     host_cache_tokens=host))


def run_step(scheduler: Scheduler, token: int = 100) -> Step:
    """Schedule, commit, and sample ``token`` for every sequence that got logits."""
    step = scheduler.schedule()
    scheduler.commit(step)
    for seq in step.sampling:
        scheduler.sampled(seq, token)
    return step


def prefill(scheduler: Scheduler, *seqs: Seq) -> None:
    """Run steps until every one of ``seqs`` has read its prompt."""
    for _ in range(100):
        if all(seq.slot is not None and not seq.is_prefilling for seq in seqs):
            return
        run_step(scheduler)
    raise AssertionError("prefill did not finish")


def test_admission_is_first_come_first_served_and_waits_for_a_free_slot() -> None:
    scheduler = make(num_slots=2)
    seqs = [Seq(prompt=[i, 1, 2]) for i in range(3)]
    for seq in seqs:
        scheduler.add(seq)
    step = scheduler.schedule()
    assert [admission.seq for admission in step.admissions] == seqs[:2]
    assert scheduler.num_waiting == 1 and seqs[2].slot is None
    scheduler.commit(step)
    scheduler.finish(seqs[0])
    assert scheduler.schedule().admissions[0].seq is seqs[2]
    assert seqs[2].slot is seqs[0].slot  # the freed slot


def test_a_prompt_must_fit_a_slot_with_room_to_generate() -> None:
    scheduler = make(capacity=8)
    with pytest.raises(ValueError):
        scheduler.add(Seq(prompt=list(range(8))))
    with pytest.raises(ValueError):
        scheduler.add(Seq(prompt=[]))


def test_next_turn_reuses_the_slot_holding_its_conversation() -> None:
    scheduler = make(num_slots=2)
    first, other = Seq(prompt=[1, 2, 3, 4]), Seq(prompt=[9, 8, 7])
    scheduler.add(first)
    scheduler.add(other)
    prefill(scheduler, first, other)
    run_step(scheduler, token=5)  # first's token 100 decoded, 5 pending
    scheduler.finish(first)
    scheduler.finish(other)
    assert first.slot is not None and first.slot.tokens == [1, 2, 3, 4, 100]
    turn2 = Seq(prompt=[1, 2, 3, 4, 100, 6, 7])
    scheduler.add(turn2)
    step = scheduler.schedule()
    assert step.admissions[0].slot is first.slot and step.admissions[0].reuse == 5
    assert turn2.cached == 5 and turn2.computed == 5
    assert [(chunk.start, chunk.end) for chunk in step.prefill] == [(5, 7)]


def test_reuse_stops_two_tokens_short_so_the_last_ones_are_prefilled_together() -> None:
    scheduler = make(num_slots=1)
    seq = Seq(prompt=[1, 2, 3, 4])
    scheduler.add(seq)
    prefill(scheduler, seq)
    scheduler.finish(seq)
    again = Seq(prompt=[1, 2, 3, 4])
    scheduler.add(again)
    step = scheduler.schedule()
    assert step.admissions[0].reuse == 2
    assert [(chunk.start, chunk.end, chunk.is_last) for chunk in step.prefill] == [(2, 4, True)]
    assert seq.slot is not None and seq.slot.tokens == [1, 2]  # the tail was dropped


def test_exact_mode_reuses_prefilled_tokens_but_not_generated_ones() -> None:
    scheduler = make(num_slots=1, reuse=ReuseMode.EXACT)
    first = Seq(prompt=[1, 2, 3, 4])
    scheduler.add(first)
    prefill(scheduler, first)
    run_step(scheduler, token=6)  # 100 decoded (generated), 6 pending
    scheduler.finish(first)
    assert first.slot is not None and first.slot.exact == 4 and len(first.slot.tokens) == 5
    turn2 = Seq(prompt=[1, 2, 3, 4, 100, 7, 8])
    scheduler.add(turn2)
    step = scheduler.schedule()
    assert step.admissions[0].reuse == 4  # the generated 100 is read again, by prefill
    scheduler.commit(step)
    assert first.slot.exact == len(first.slot.tokens) == 7


def test_a_new_conversation_takes_an_empty_slot_rather_than_evict_one() -> None:
    scheduler = make(num_slots=2)
    talk = Seq(prompt=[5, 1, 2, 3])
    scheduler.add(talk)
    prefill(scheduler, talk)
    scheduler.finish(talk)
    other = Seq(prompt=[5, 9, 9, 9])  # shares one token with talk's cache
    scheduler.add(other)
    assert scheduler.schedule().admissions[0].slot is not talk.slot


def test_an_evicted_cache_is_saved_to_host_memory_and_restored_later() -> None:
    scheduler = make(num_slots=1, min_copy=4, host=100)
    talk = Seq(prompt=list(range(1, 11)))
    scheduler.add(talk)
    prefill(scheduler, talk)
    scheduler.finish(talk)
    other = Seq(prompt=[50, 51, 52])
    scheduler.add(other)
    step = scheduler.schedule()
    saved = step.admissions[0].save
    assert saved is not None and saved.tokens == list(range(1, 11))
    scheduler.commit(step)
    scheduler.finish(other)
    turn2 = Seq(prompt=[*range(1, 11), 11, 12])
    scheduler.add(turn2)
    step = scheduler.schedule()
    admission = step.admissions[0]
    assert admission.restore is saved and admission.reuse == 10
    assert admission.save is None  # other's three tokens are not worth saving


def test_the_host_store_keeps_its_budget_least_recently_used_out_first() -> None:
    store = HostStore(budget=10)
    first, _ = store.add([1, 2, 3, 4], 4, tick=1)
    second, _ = store.add([5, 6, 7, 8], 4, tick=2)
    longer, dropped = store.add([1, 2, 3, 4, 9], 5, tick=3)  # serves first's prompts too
    assert dropped == [first] and store.entries == [second, longer]
    _, dropped = store.add([7, 7, 7], 3, tick=4)
    assert dropped == [second] and store.num_tokens == 8
    assert store.covers([1, 2, 3]) and not store.covers([2])


def test_a_miss_evicts_the_least_recently_used_slot() -> None:
    scheduler = make(num_slots=2)
    a, b = Seq(prompt=[1, 1]), Seq(prompt=[2, 2])
    scheduler.add(a)
    prefill(scheduler, a)
    scheduler.add(b)
    prefill(scheduler, b)
    scheduler.finish(a)  # a released first: least recently used
    run_step(scheduler)
    scheduler.finish(b)
    newcomer = Seq(prompt=[3, 3])
    scheduler.add(newcomer)
    assert scheduler.schedule().admissions[0].slot is a.slot
    assert b.slot is not None and b.slot.tokens[:2] == [2, 2]  # b's cache survives


def test_without_prefix_reuse_every_prompt_is_read_whole() -> None:
    scheduler = make(num_slots=1, reuse=ReuseMode.OFF)
    seq = Seq(prompt=[1, 2, 3])
    scheduler.add(seq)
    prefill(scheduler, seq)
    scheduler.finish(seq)
    again = Seq(prompt=[1, 2, 3, 4])
    scheduler.add(again)
    assert scheduler.schedule().admissions[0].reuse == 0


def test_a_long_prefix_in_a_busy_slot_is_copied_a_short_one_is_not() -> None:
    scheduler = make(num_slots=3, min_copy=4)
    system = list(range(10, 20))
    busy = Seq(prompt=[*system, 1])
    scheduler.add(busy)
    prefill(scheduler, busy)
    long_match = Seq(prompt=[*system, 2])
    scheduler.add(long_match)
    step = scheduler.schedule()
    admission = step.admissions[0]
    assert admission.copy_from is busy.slot and admission.reuse == len(system) - 1
    assert admission.slot is not busy.slot
    assert admission.slot.tokens == system[:-1]
    short_match = Seq(prompt=[10, 11, 99])
    scheduler.add(short_match)
    assert scheduler.schedule().admissions[0].copy_from is None


def test_siblings_wait_for_the_leaders_prefill_then_copy_its_cache() -> None:
    scheduler = make(num_slots=3, chunk=4, step_tokens=4, min_copy=1)
    prompt = list(range(1, 11))
    leader = Seq(prompt=prompt)
    sibling = Seq(prompt=prompt, leader=leader)
    scheduler.add(leader)
    scheduler.add(sibling)
    step = scheduler.schedule()
    assert [admission.seq for admission in step.admissions] == [leader]
    scheduler.commit(step)
    prefill(scheduler, leader)
    assert sibling.slot is None
    step = scheduler.schedule()
    assert step.admissions[0].seq is sibling
    assert step.admissions[0].copy_from is leader.slot and sibling.cached == 8


def test_a_sibling_whose_leader_was_cancelled_starts_on_its_own() -> None:
    scheduler = make(num_slots=2)
    leader = Seq(prompt=[1, 2, 3])
    sibling = Seq(prompt=[1, 2, 3], leader=leader)
    scheduler.add(leader)
    scheduler.add(sibling)
    scheduler.schedule()
    scheduler.finish(leader)
    assert scheduler.schedule().admissions[0].seq is sibling


def test_decoding_sequences_each_get_a_token_every_step_and_prompts_are_chunked() -> None:
    scheduler = make(num_slots=3, step_tokens=16, chunk=5)
    decoding = [Seq(prompt=[1, 2]), Seq(prompt=[3, 4])]
    for seq in decoding:
        scheduler.add(seq)
    prefill(scheduler, *decoding)
    long_prompt = Seq(prompt=list(range(100, 120)))
    scheduler.add(long_prompt)
    for expected_end in (5, 10, 15, 20):
        step = run_step(scheduler)
        assert step.decode == decoding  # nobody starves while the prompt is read
        assert [(chunk.start, chunk.end) for chunk in step.prefill] == [
            (expected_end - 5, expected_end)]
    assert not long_prompt.is_prefilling and long_prompt.pending == 100


def test_no_prompt_chunk_is_a_single_token() -> None:
    scheduler = make(num_slots=2, step_tokens=16, chunk=5)
    decoding = Seq(prompt=[1, 2])
    scheduler.add(decoding)
    prefill(scheduler, decoding)
    odd = Seq(prompt=list(range(100, 111)))  # 11 tokens: 5 + 5 would leave one
    scheduler.add(odd)
    sizes = []
    while odd.is_prefilling or odd.slot is None:
        step = run_step(scheduler)
        sizes += [chunk.end - chunk.start for chunk in step.prefill]
    assert sum(sizes) == 11 and min(sizes) >= 2


def test_with_nothing_decoding_a_prompt_gets_the_whole_step() -> None:
    scheduler = make(num_slots=2, step_tokens=16, chunk=5)
    first, second = Seq(prompt=list(range(12))), Seq(prompt=list(range(50, 60)))
    scheduler.add(first)
    scheduler.add(second)
    step = scheduler.schedule()
    # first come, first served: the older prompt is read first, the rest of the step goes on
    assert [(chunk.seq, chunk.start, chunk.end) for chunk in step.prefill] == [
        (first, 0, 12), (second, 0, 4)]
    assert step.num_tokens == 16


def test_sampling_order_and_rows_follow_slot_order() -> None:
    scheduler = make(num_slots=3)
    seqs = [Seq(prompt=[i, i]) for i in range(3)]
    for seq in seqs:
        scheduler.add(seq)
    step = run_step(scheduler)
    assert [seq.slot.index for seq in step.sampling if seq.slot] == [0, 1, 2]


def test_a_full_slot_hands_its_sequence_back_and_the_others_go_on() -> None:
    scheduler = make(num_slots=2, capacity=6)
    short, longer = Seq(prompt=[1, 2]), Seq(prompt=[1, 2, 3, 4, 5])
    scheduler.add(short)
    scheduler.add(longer)
    prefill(scheduler, short, longer)
    step = scheduler.schedule()  # longer: 5 cached + 1 pending fits exactly
    assert step.decode == [short, longer] and not step.out_of_space
    scheduler.commit(step)
    scheduler.sampled(short, 7)
    scheduler.sampled(longer, 7)
    step = scheduler.schedule()
    assert step.out_of_space == [longer] and step.decode == [short]
    scheduler.finish(longer)
    assert longer.slot is not None and longer.slot.seq is None


def test_a_cancelled_sequence_leaves_at_once_and_its_slot_is_reusable() -> None:
    scheduler = make(num_slots=1)
    running, waiting = Seq(prompt=[1, 2]), Seq(prompt=[3, 4])
    scheduler.add(running)
    scheduler.add(waiting)
    run_step(scheduler)
    scheduler.finish(running)
    step = scheduler.schedule()
    assert running not in step.decode
    assert step.admissions[0].seq is waiting and waiting.slot is running.slot
    queued = Seq(prompt=[5])
    scheduler.add(queued)
    scheduler.finish(queued)  # cancelled while waiting
    assert scheduler.num_waiting == 0 and queued.is_finished


def test_config_rejects_sizes_that_cannot_work() -> None:
    with pytest.raises(ValueError):
        SchedulerConfig(num_slots=0, slot_capacity=8, max_step_tokens=8, prefill_chunk=4)
    with pytest.raises(ValueError):
        SchedulerConfig(num_slots=4, slot_capacity=8, max_step_tokens=2, prefill_chunk=2)
    with pytest.raises(ValueError):
        SchedulerConfig(num_slots=1, slot_capacity=8, max_step_tokens=8, prefill_chunk=9)
