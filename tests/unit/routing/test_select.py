"""Route and carrier selection: specificity, weighted order, exclusion, errors, purity."""

from __future__ import annotations

import ast
import random
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import routing.select
from routing.errors import (
    NoCarrierAvailableError,
    NoMatchingRouteError,
    NoRouteError,
    RoutingError,
)
from routing.model import Route, RouteTarget, RoutingTable
from routing.select import select_carriers, select_route


def _route(name: str, *carriers: str, **kwargs: object) -> Route:
    targets = tuple(RouteTarget(carrier=c) for c in carriers)
    return Route(name=name, targets=targets, **kwargs)  # type: ignore[arg-type]


TABLE = RoutingTable(
    routes=(
        _route("uk", "uk-a", "uk-b", countries=frozenset({"GB"}), fallbacks=("global",)),
        _route("uk-mobile", "uk-m", prefixes=("447",)),
        _route("uk-vodafone-prefix", "vf-direct", prefixes=("44779",)),
        _route("de", "de-a", countries=frozenset({"DE"})),
        _route("default", "global"),
    )
)


def _up(_carrier: str) -> bool:
    return True


def _pick(**kwargs: object) -> list[str]:
    args: dict[str, object] = {"country": None, "is_available": _up, "rng": random.Random(7)}
    args.update(kwargs)
    return select_carriers(TABLE, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("destination", "country", "route"),
    [
        ("447791234567", "GB", "uk-vodafone-prefix"),  # longest prefix beats all
        ("447123456789", "GB", "uk-mobile"),  # a prefix beats country
        ("441234567890", "GB", "uk"),  # country beats default
        ("441234567890", "gb", "uk"),  # country in any case
        ("4915112345678", "DE", "de"),
        ("33612345678", "FR", "default"),
        ("33612345678", None, "default"),
        ("44", None, "default"),  # shorter than every prefix
    ],
)
def test_most_specific_route_wins(destination: str, country: str | None, route: str) -> None:
    found = select_route(TABLE, destination=destination, country=country)
    assert found is not None
    assert found.name == route


def test_targets_come_before_fallbacks_in_order() -> None:
    carriers = _pick(destination="441234567890", country="GB")
    assert sorted(carriers[:2]) == ["uk-a", "uk-b"]
    assert carriers[2:] == ["global"]


def test_excluded_and_unbound_carriers_are_skipped() -> None:
    carriers = _pick(
        destination="441234567890",
        country="GB",
        exclude=frozenset({"uk-a"}),
        is_available=lambda c: c != "uk-b",
    )
    assert carriers == ["global"]


def test_single_target_needs_no_randomness() -> None:
    class NoRandom(random.Random):
        def random(self) -> float:
            raise AssertionError("a single carrier must not consume randomness")

    assert _pick(destination="4915112345678", country="DE", rng=NoRandom()) == ["de-a"]


def test_no_matching_route_is_told_apart_from_no_carrier() -> None:
    table = RoutingTable(routes=(_route("de", "de-a", countries=frozenset({"DE"})),))
    with pytest.raises(NoMatchingRouteError, match="no default route") as no_route:
        select_carriers(
            table, destination="33612345678", country="FR", is_available=_up, rng=random.Random(1)
        )
    assert no_route.value.reason == "no_route"
    with pytest.raises(NoCarrierAvailableError, match="1 already failed") as no_carrier:
        select_carriers(
            table,
            destination="4915112345678",
            country="DE",
            is_available=_up,
            rng=random.Random(1),
            exclude=frozenset({"de-a"}),
        )
    assert no_carrier.value.reason == "no_carrier"
    assert isinstance(no_carrier.value, NoRouteError)


def test_no_carrier_message_counts_unbound_carriers() -> None:
    with pytest.raises(
        NoCarrierAvailableError,
        match=r"3 configured, 0 already failed for this message, 3 not bound",
    ):
        _pick(destination="441234567890", country="GB", is_available=lambda _c: False)


def test_error_message_never_contains_the_destination() -> None:
    with pytest.raises(NoCarrierAvailableError) as info:
        _pick(destination="441234567890", country="GB", is_available=lambda _c: False)
    assert "441234567890" not in str(info.value)


def test_first_carrier_follows_the_weights() -> None:
    """With weights 1:3 the heavier carrier comes first about 75% of the time."""
    table = RoutingTable(
        routes=(
            Route(
                name="d",
                targets=(RouteTarget(carrier="light"), RouteTarget(carrier="heavy", weight=3)),
            ),
        )
    )
    rng = random.Random(42)
    firsts = Counter(
        select_carriers(table, destination="1", country=None, is_available=_up, rng=rng)[0]
        for _ in range(20_000)
    )
    share = firsts["heavy"] / 20_000
    assert 0.73 < share < 0.77


def test_second_carrier_follows_the_remaining_weights() -> None:
    """Weights 1:2:7; when 'c' (7) comes first, 'b' (2) is second in about 2/3 of cases."""
    targets = (
        RouteTarget(carrier="a", weight=1),
        RouteTarget(carrier="b", weight=2),
        RouteTarget(carrier="c", weight=7),
    )
    table = RoutingTable(routes=(Route(name="d", targets=targets),))
    rng = random.Random(3)
    seconds: Counter[str] = Counter()
    for _ in range(30_000):
        order = select_carriers(table, destination="1", country=None, is_available=_up, rng=rng)
        if order[0] == "c":
            seconds[order[1]] += 1
    share = seconds["b"] / sum(seconds.values())
    assert 0.64 < share < 0.69


@settings(max_examples=200)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=6),
    down=st.sets(st.integers(min_value=0, max_value=5)),
    failed=st.sets(st.integers(min_value=0, max_value=5)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_order_is_a_permutation_of_usable_carriers(
    weights: list[int], down: set[int], failed: set[int], seed: int
) -> None:
    targets = tuple(RouteTarget(carrier=f"c{i}", weight=w) for i, w in enumerate(weights))
    table = RoutingTable(routes=(Route(name="d", targets=targets, fallbacks=("fb",)),))
    exclude = frozenset(f"c{i}" for i in failed)
    usable = {t.carrier for t in targets} - exclude - {f"c{i}" for i in down}
    order = select_carriers(
        table,
        destination="1",
        country=None,
        is_available=lambda c: c not in {f"c{i}" for i in down},
        rng=random.Random(seed),
        exclude=exclude,
    )
    assert sorted(order[:-1]) == sorted(usable)
    assert order[-1] == "fb"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ((_route("a", "x"), _route("a", "y", countries=frozenset({"DE"}))), "duplicate route name"),
        ((_route("a", "x"), _route("b", "y")), "more than one default route"),
        (
            (_route("a", "x", prefixes=("44",)), _route("b", "y", prefixes=("44",))),
            "prefix '44' is claimed by both 'a' and 'b'",
        ),
        (
            (
                _route("a", "x", countries=frozenset({"DE"})),
                _route("b", "y", countries=frozenset({"DE"})),
            ),
            "country 'DE' is claimed",
        ),
    ],
)
def test_ambiguous_tables_are_rejected(routes: tuple[Route, ...], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        RoutingTable(routes=routes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "r", "targets": ()}, "at least one target or fallback"),
        ({"name": "r", "targets": (RouteTarget(carrier="x"),), "fallbacks": ("x",)}, "twice"),
        ({"name": "r", "targets": (RouteTarget(carrier="x"),), "prefixes": ("+44",)}, "digits"),
        (
            {"name": "r", "targets": (RouteTarget(carrier="x"),), "countries": frozenset({"gb"})},
            "ISO alpha-2",
        ),
        ({"name": "", "targets": (RouteTarget(carrier="x"),)}, "name"),
    ],
)
def test_bad_routes_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        Route(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [0, -1, True, 1.5])
def test_bad_weights_are_rejected(weight: object) -> None:
    with pytest.raises(RoutingError, match="weight"):
        RouteTarget(carrier="x", weight=weight)  # type: ignore[arg-type]


def test_fallback_only_route_is_allowed() -> None:
    table = RoutingTable(routes=(Route(name="d", targets=(), fallbacks=("a", "b")),))
    order = select_carriers(
        table, destination="1", country=None, is_available=_up, rng=random.Random(1)
    )
    assert order == ["a", "b"]


def test_select_module_imports_only_stdlib_and_routing_model() -> None:
    """routing/select.py is pure: stdlib, routing.model and routing.errors only (style §1)."""
    source = Path(routing.select.__file__).read_text(encoding="utf-8")
    allowed = {"routing.model", "routing.errors", "__future__"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert name in allowed or top in sys.stdlib_module_names, f"forbidden import {name}"
