"""Carrier.bind_for: which bind a tick's next message goes to.

A tick's messages stay on one bind while its window has room (one write and one read per tick
instead of one per bind), then go to the least busy bind; equally busy binds are taken in turn,
so light traffic, where every bind is idle at each tick, still uses all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from gateway.carrier.bind import Bind
from gateway.carrier.pool import Carrier
from gateway.config import CarrierConfig
from routing.retry import RetryPolicy


@dataclass
class FakeBind:
    """What bind_for reads of a Bind."""

    name: str
    window: int = 10
    in_flight: int = 0
    is_bound: bool = True

    @property
    def window_room(self) -> int:
        return self.window - self.in_flight if self.is_bound else 0


def carrier_of(*binds: FakeBind) -> Carrier:
    return Carrier(
        config=CarrierConfig(name="c", host="127.0.0.1", port=1, system_id="s", password="p"),
        binds=cast(list[Bind], list(binds)),
        profile=cast(Any, None),
        retry=RetryPolicy(),
        rate=cast(Any, None),
    )


def send_tick(carrier: Carrier, parts: list[int]) -> list[str]:
    """The binds a tick's messages of `parts` parts go to (each counted in flight at once)."""
    chosen: list[str] = []
    bind = None
    for count in parts:
        bind = carrier.bind_for(count, bind)
        assert bind is not None
        cast(FakeBind, bind).in_flight += count
        chosen.append(bind.name)
    return chosen


def test_a_ticks_messages_stay_on_one_bind_while_its_window_has_room() -> None:
    carrier = carrier_of(FakeBind("a"), FakeBind("b"))
    assert send_tick(carrier, [1, 1, 2, 1]) == ["a", "a", "a", "a"]


def test_a_message_the_window_cannot_take_goes_to_the_least_busy_bind() -> None:
    a, b, c = FakeBind("a", window=4), FakeBind("b", in_flight=3), FakeBind("c", in_flight=1)
    carrier = carrier_of(a, b, c)
    assert send_tick(carrier, [2, 2, 3]) == ["a", "a", "c"]  # a full at 4: c is least busy


def test_idle_binds_are_taken_in_turn_tick_after_tick() -> None:
    a, b, c = FakeBind("a"), FakeBind("b"), FakeBind("c")
    carrier = carrier_of(a, b, c)
    firsts = []
    for _ in range(6):
        firsts.append(send_tick(carrier, [1, 1])[0])
        a.in_flight = b.in_flight = c.in_flight = 0  # answered before the next tick
    assert firsts == ["a", "b", "c", "a", "b", "c"]


def test_a_bind_that_is_down_is_skipped_and_none_bound_is_none() -> None:
    a, b = FakeBind("a", is_bound=False), FakeBind("b")
    carrier = carrier_of(a, b)
    assert send_tick(carrier, [1, 1]) == ["b", "b"]
    b.is_bound = False
    assert carrier.bind_for(1, None) is None
    assert carrier.bind_for(1, cast(Bind, b)) is None  # the current one went down too
