"""Carrier selection: which carriers to try for one message, in order.

`select_carriers` picks the most specific matching route (longest destination prefix, then
country, then the default route; see `routing.model`), and returns that route's
carriers: its targets in weighted-random order, then its fallbacks in configured order.
Carriers without a bind up, and carriers that already failed this message (`exclude`), are
left out. Selection never falls through to a less specific route: a route's `fallbacks` are
the place to say where its traffic goes when its own carriers are down.

Weighted-random order without replacement uses the Efraimidis-Spirakis keys: each target draws
`u ** (1 / weight)` with `u` uniform in [0, 1) and targets are sorted by key, largest first.
The first carrier is then chosen with probability `weight / total`, the next from the rest in
the same proportion, and so on (Efraimidis & Spirakis, "Weighted random sampling with a
reservoir", IPL 97(5), 2006).

Pure: stdlib and routing.model/routing.errors only (no I/O, no clock; the RNG is injected).
A unit test walks this module's AST and fails on any other import.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from routing.errors import NoCarrierAvailableError, NoMatchingRouteError
from routing.model import Route, RoutingTable


def select_route(table: RoutingTable, *, destination: str, country: str | None) -> Route | None:
    """The most specific route matching a message, or None when nothing matches.

    Args:
        table: the routing table (its index is built when the table is).
        destination: E.164 digits without "+".
        country: ISO 3166-1 alpha-2 code of the destination, if known (any case).
    """
    by_prefix = table.by_prefix
    size = len(destination)
    for length in table.prefix_lengths:
        if length <= size:
            route = by_prefix.get(destination[:length])
            if route is not None:
                return route
    if country is not None:
        route = table.by_country.get(country.upper())
        if route is not None:
            return route
    return table.default


def select_carriers(
    table: RoutingTable,
    *,
    destination: str,
    country: str | None,
    is_available: Callable[[str], bool],
    rng: random.Random,
    exclude: frozenset[str] = frozenset(),
) -> list[str]:
    """The ordered carriers to try for one message.

    Args:
        table: the routing table.
        destination: E.164 digits without "+".
        country: ISO 3166-1 alpha-2 code of the destination, if known.
        is_available: True when the carrier has a bind up that can take a submit.
        rng: the random source for the weighted order (seed it in tests).
        exclude: carriers that already failed this message; never returned.

    Returns:
        Carrier names, never empty: available targets in weighted-random order, then
        available fallbacks in configured order.

    Raises:
        NoMatchingRouteError: no route matches and the table has no default route.
        NoCarrierAvailableError: a route matched but every carrier on it is excluded or down.
    """
    route = select_route(table, destination=destination, country=country)
    if route is None:
        raise NoMatchingRouteError(
            f"no route matches (country={country!r}) and the routing table has no default route"
        )
    carriers = _weighted_order(route, is_available, rng, exclude)
    if route.fallbacks:
        carriers.extend(c for c in route.fallbacks if c not in exclude and is_available(c))
    if not carriers:
        raise NoCarrierAvailableError(_no_carrier_reason(route, is_available, exclude))
    return carriers


def _weighted_order(
    route: Route,
    is_available: Callable[[str], bool],
    rng: random.Random,
    exclude: frozenset[str],
) -> list[str]:
    usable = [(c, inv) for c, inv in route.weighted if c not in exclude and is_available(c)]
    if len(usable) <= 1:
        return [c for c, _inv in usable]
    draw = rng.random
    keyed = [(draw() ** inv, c) for c, inv in usable]
    keyed.sort(reverse=True)
    return [c for _key, c in keyed]


def _no_carrier_reason(
    route: Route, is_available: Callable[[str], bool], exclude: frozenset[str]
) -> str:
    names = [t.carrier for t in route.targets] + list(route.fallbacks)
    failed = sum(1 for c in names if c in exclude)
    down = sum(1 for c in names if c not in exclude and not is_available(c))
    return (
        f"route {route.name!r}: no carrier available "
        f"({len(names)} configured, {failed} already failed for this message, {down} not bound)"
    )
