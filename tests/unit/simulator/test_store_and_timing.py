"""The bounded message store and the tick-batched due queue."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smpp.constants import MessageState
from gateway.smpp.pdu import SubmitSm
from simulator.store import MessageRecord, MessageStore
from simulator.timing import DueQueue


def record(
    message_id: str, system_id: str = "acme", source: str = "A", dest: str = "B"
) -> MessageRecord:
    pdu = SubmitSm(source_addr=source, destination_addr=dest)
    return MessageRecord(message_id, system_id, pdu, (1, 1, dest), 0.0)


def test_store_evicts_oldest_past_capacity() -> None:
    store = MessageStore(2)
    for message_id in ("1", "2", "3"):
        store.add(record(message_id))
    assert len(store) == 2
    assert store.get("1", "acme") is None
    assert store.get("3", "acme") is not None


def test_store_hides_other_accounts_messages() -> None:
    store = MessageStore(10)
    store.add(record("1", system_id="acme"))
    assert store.get("1", "other") is None
    assert store.get("1", "acme") is not None


def test_matching_finds_by_addresses() -> None:
    store = MessageStore(10)
    store.add(record("1", source="A", dest="B"))
    store.add(record("2", source="A", dest="C"))
    store.add(record("3", source="A", dest="B", system_id="other"))
    assert [r.message_id for r in store.matching("acme", "A", "B")] == ["1"]


def test_record_finish_sets_final_state() -> None:
    r = record("1")
    final_before = r.is_final  # a local: mypy would keep r.is_final narrowed past finish()
    assert not final_before
    r.finish(MessageState.DELIVERED, 5.0, 0)
    assert r.is_final
    assert r.final_at == 5.0
    assert r.source == (0, 0, "A")


def test_due_queue_never_returns_items_early() -> None:
    queue: DueQueue[str] = DueQueue(tick=0.01)
    queue.push(1.003, "a")
    queue.push(1.0, "b")
    queue.push(2.0, "c")
    assert len(queue) == 3
    assert queue.next_due() is not None
    assert queue.pop_due(0.999) == []
    assert queue.pop_due(1.0) == ["b"]
    assert queue.pop_due(1.005) == []
    assert queue.pop_due(1.01) == ["a"]
    assert queue.pop_due(5.0) == ["c"]
    assert queue.next_due() is None
    assert len(queue) == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=200), st.floats(0, 120))
def test_due_queue_returns_exactly_the_due_items(dues: list[float], now: float) -> None:
    queue: DueQueue[int] = DueQueue(tick=0.005)
    for index, due in enumerate(dues):
        queue.push(due, index)
    taken = queue.pop_due(now)
    assert all(dues[i] <= now + 1e-6 for i in taken)
    assert len(taken) + len(queue) == len(dues)
    assert sorted(taken + queue.pop_due(200.0)) == list(range(len(dues)))
