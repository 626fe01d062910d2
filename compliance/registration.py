"""Sender registration per carrier: US 10DLC campaigns, toll-free verification, short codes.

In the US a number or short code may carry A2P traffic only where it is registered, and the
registration belongs to the connection that hosts it, not to the sender alone (domain.md §3
row US [S61a-f]): a 10DLC number is bound to a brand's campaign in The Campaign Registry
through one provider, a toll-free number is verified by the provider that hosts it, and a
short code is leased and then provisioned carrier by carrier through an aggregator. The
carriers enforce it: unregistered traffic is blocked or fined. So registrations are data per
carrier (`carriers[].registered_senders` in smsgw.yaml), and a country rule names the programs
that need one (`sender.carrier_registration` in countries/us.yaml).

Compliance runs before a carrier is chosen, so the check covers every carrier the route to the
destination may use, targets and fallbacks (`SenderRegistry.route_carriers`): whichever the
router picks, including on failover, has the sender registered. A sender registered on only
some of a route's carriers is refused, naming the others, rather than sent to a carrier that
would block it. Pure: no I/O; the route look-up is injected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import phonenumbers

from compliance.sender_id import SenderAddress, SenderKind, SenderProgram
from gateway.smpp.constants import Ton

RouteCarriers = Callable[[str, str | None], tuple[str, ...] | None]
"""(destination E.164 digits, ISO country) -> the carriers its route may use, or None when no
route matches (the router then fails the message `no_route`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderRegistry:
    """Who is registered where: carrier -> program -> senders (digits, no '+').

    `route_carriers` None means the carriers are unknown (a policy built without routing):
    a sender then counts as registered only if some carrier has it.
    """

    registered: Mapping[str, Mapping[SenderProgram, frozenset[str]]] = field(default_factory=dict)
    route_carriers: RouteCarriers | None = None

    def problem(
        self, key: str, program: SenderProgram, destination: str, country: str | None
    ) -> str | None:
        """Why sender `key` (digits) may not go to `destination`, or None when it may."""
        label = f"{key} ({program.value})"
        if self.route_carriers is None:
            if any(key in self._senders(c, program) for c in self.registered):
                return None
            return f"sender {label} is not registered on any carrier"
        carriers = self.route_carriers(destination, country)
        if carriers is None:
            return None  # no route: the router refuses it with no_route
        missing = [c for c in carriers if key not in self._senders(c, program)]
        if not missing:
            return None
        return (
            f"sender {label} is not registered on carrier {', '.join(missing)} of the route "
            f"(route carriers: {', '.join(carriers)}; see carriers[].registered_senders)"
        )

    def _senders(self, carrier: str, program: SenderProgram) -> frozenset[str]:
        return self.registered.get(carrier, {}).get(program, frozenset())


def sender_program(address: SenderAddress, country_code: int) -> SenderProgram | None:
    """The program a sender address falls under: short codes by length, toll-free numbers by
    phonenumbers' number type (TOLL_FREE), other numbers 10DLC; None for alphanumeric."""
    if address.kind is SenderKind.alphanumeric:
        return None
    if address.kind is SenderKind.short_code:
        return SenderProgram.short_code
    toll_free = _is_toll_free(registration_key(address, country_code))
    return SenderProgram.toll_free if toll_free else SenderProgram.ten_dlc


def registration_key(address: SenderAddress, country_code: int) -> str:
    """The digits a sender is registered under: E.164 without '+' for numbers (a national
    number gets the destination's country code), the digits for short codes."""
    if address.kind is SenderKind.long_code and address.ton == Ton.national:
        return f"{country_code}{address.source_addr}"
    return address.source_addr


def registration_problem(
    registry: SenderRegistry,
    programs: frozenset[SenderProgram],
    address: SenderAddress,
    *,
    destination: str,
    country: str | None,
    country_code: int,
) -> str | None:
    """Why `address` is not registered for this destination, or None (also when the country
    needs no registration for its program)."""
    program = sender_program(address, country_code)
    if program is None or program not in programs:
        return None
    key = registration_key(address, country_code)
    return registry.problem(key, program, destination, country)


@functools.lru_cache(maxsize=1024)
def _is_toll_free(digits: str) -> bool:
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE
