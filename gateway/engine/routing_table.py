"""Build the routing.RoutingTable from the `routes` config, errors naming their key path."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config import RouteConfig
from gateway.errors import ConfigError
from routing.errors import RoutingError
from routing.model import Route, RouteTarget, RoutingTable


def routing_table(routes: Sequence[RouteConfig]) -> RoutingTable:
    """The table for `routes`.

    Raises:
        ConfigError: a route the routing model refuses, e.g. `routes[2]: ...`.
    """
    built: list[Route] = []
    for i, route in enumerate(routes):
        try:
            built.append(
                Route(
                    name=route.name,
                    countries=frozenset(c.upper() for c in route.countries),
                    prefixes=tuple(p.lstrip("+") for p in route.prefixes),
                    targets=tuple(
                        RouteTarget(carrier=t.carrier, weight=t.weight) for t in route.targets
                    ),
                    fallbacks=route.fallbacks,
                )
            )
        except RoutingError as error:
            raise ConfigError(f"routes[{i}]: {error}") from None
    try:
        return RoutingTable(routes=tuple(built))
    except RoutingError as error:
        raise ConfigError(f"routes: {error}") from None
