"""Replica choice: least loaded first, conversations back to their replica, failed replicas
last until a health check brings them back."""

from __future__ import annotations

from qwenchat.upstream import ReplicaSet, conversation_key


def urls(replicas: ReplicaSet, conversation: str | None = None) -> list[str]:
    return [replica.url for replica in replicas.candidates(conversation)]


def test_the_least_loaded_replica_goes_first() -> None:
    replicas = ReplicaSet(["http://a/v1", "http://b/v1/", "http://c/v1"])
    assert urls(replicas) == ["http://a/v1", "http://b/v1", "http://c/v1"]
    a, b, _ = replicas.replicas
    replicas.started(a)
    replicas.started(a)
    replicas.started(b)
    assert urls(replicas) == ["http://c/v1", "http://b/v1", "http://a/v1"]


def test_a_failed_replica_goes_last_until_a_health_check_passes() -> None:
    replicas = ReplicaSet(["http://a/v1", "http://b/v1"])
    a, _ = replicas.replicas
    replicas.started(a)
    replicas.failed(a)
    assert (a.in_flight, a.is_up) == (0, False)
    assert urls(replicas) == ["http://b/v1", "http://a/v1"]
    replicas.checked(a, is_healthy=True)
    assert urls(replicas) == ["http://a/v1", "http://b/v1"]


def test_a_conversation_returns_to_its_replica_unless_it_is_much_busier() -> None:
    replicas = ReplicaSet(["http://a/v1", "http://b/v1"])
    b = replicas.replicas[1]
    replicas.started(b)
    replicas.finished(b, "talk")
    replicas.started(b)  # b one request busier: still worth its cache
    assert urls(replicas, "talk")[0] == "http://b/v1"
    replicas.started(b)  # two more than a: load wins
    assert urls(replicas, "talk")[0] == "http://a/v1"
    replicas.checked(b, is_healthy=False)
    assert urls(replicas, "talk") == ["http://a/v1", "http://b/v1"]


def test_conversation_keys_follow_system_and_first_user_message() -> None:
    turn1 = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]}
    turn2 = {"messages": [*turn1["messages"], {"role": "assistant", "content": "A"},
                          {"role": "user", "content": "Q2"}]}
    other = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "X"}]}
    assert conversation_key(turn1) == conversation_key(turn2) != conversation_key(other)
    assert conversation_key({"messages": [{"role": "user", "content": "Q"}]}) is None
