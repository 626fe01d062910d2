"""The routing table: routes, their carriers and weights, and the look-up index built per table.

A `Route` matches a message by any of its criteria (OR, not AND): a destination prefix or a
destination country. A route with no criteria is the default route. When several routes match,
the most specific wins, in this order (see `routing.select`):

1. the route with the longest matching destination prefix,
2. then the route listing the message's country,
3. then the default route.

Because a match is decided by one key at each level, two routes claiming the same prefix or
country would make the choice arbitrary; the table rejects that when it is built,
as it rejects a second default route. Building a `RoutingTable` also builds the index that
`routing.select` reads, so selection never scans the routes.

Pure: stdlib only, no I/O (style guide §1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from routing.errors import RoutingError

_DIGITS: Final = re.compile(r"[0-9]+")
_COUNTRY: Final = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteTarget:
    """One carrier of a route; targets share a route's traffic in proportion to `weight`."""

    carrier: str
    weight: int = 1

    def __post_init__(self) -> None:
        if not self.carrier:
            raise RoutingError("carrier: must not be empty")
        weight: object = self.weight  # config may hand us anything; check before trusting it
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise RoutingError(f"weight: expected int >= 1, got {self.weight!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where to send the messages that match it.

    Attributes:
        name: unique within the table; used in errors and logs.
        countries: ISO 3166-1 alpha-2 codes, upper case (e.g. "GB").
        prefixes: E.164 digit prefixes without "+" (e.g. "4479").
        targets: carriers sharing the load by weight, tried first in weighted-random order.
        fallbacks: carrier names tried in this order after every target.
    """

    name: str
    countries: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    targets: tuple[RouteTarget, ...]
    fallbacks: tuple[str, ...] = ()
    # (carrier, 1 / weight) per target, precomputed for routing.select's weighted order.
    weighted: tuple[tuple[str, float], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise RoutingError("name: must not be empty")
        _check_all(self.name, "countries", self.countries, _COUNTRY, "ISO alpha-2")
        _check_all(self.name, "prefixes", self.prefixes, _DIGITS, "digits")
        if len(set(self.prefixes)) != len(self.prefixes):
            raise RoutingError(f"route {self.name!r}: prefixes: duplicate prefix")
        if not self.targets and not self.fallbacks:
            raise RoutingError(f"route {self.name!r}: needs at least one target or fallback")
        carriers = [t.carrier for t in self.targets] + list(self.fallbacks)
        if len(set(carriers)) != len(carriers):
            raise RoutingError(
                f"route {self.name!r}: a carrier appears twice among targets and fallbacks"
            )
        weighted = tuple((t.carrier, 1.0 / t.weight) for t in self.targets)
        object.__setattr__(self, "weighted", weighted)

    @property
    def is_default(self) -> bool:
        """True when the route has no match criteria and so catches everything else."""
        return not (self.countries or self.prefixes)


def _check_all(
    route: str, key: str, values: Iterable[object], pattern: re.Pattern[str], what: str
) -> None:
    for value in values:
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise RoutingError(f"route {route!r}: {key}: expected {what}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingTable:
    """All routes, plus the look-up index `routing.select` uses (built here, once).

    Raises:
        RoutingError: duplicate route names, two routes claiming the same prefix or country,
            or more than one default route.
    """

    routes: tuple[Route, ...]
    by_prefix: dict[str, Route] = field(init=False, repr=False, compare=False)
    prefix_lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)
    by_country: dict[str, Route] = field(init=False, repr=False, compare=False)
    default: Route | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise RoutingError("routes: duplicate route name")
        by_prefix = _index(self.routes, "prefix", lambda r: r.prefixes)
        defaults = [r for r in self.routes if r.is_default]
        if len(defaults) > 1:
            raise RoutingError(
                f"routes: more than one default route ({defaults[0].name!r}, {defaults[1].name!r})"
            )
        lengths = tuple(sorted({len(p) for p in by_prefix}, reverse=True))
        object.__setattr__(self, "by_prefix", by_prefix)
        object.__setattr__(self, "prefix_lengths", lengths)
        object.__setattr__(
            self, "by_country", _index(self.routes, "country", lambda r: r.countries)
        )
        object.__setattr__(self, "default", defaults[0] if defaults else None)


def _index(
    routes: tuple[Route, ...], what: str, keys_of: Callable[[Route], Iterable[str]]
) -> dict[str, Route]:
    index: dict[str, Route] = {}
    for route in routes:
        for key in keys_of(route):
            other = index.setdefault(key, route)
            if other is not route:
                raise RoutingError(
                    f"routes: {what} {key!r} is claimed by both {other.name!r} and {route.name!r}"
                )
    return index
