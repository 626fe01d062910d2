"""`smsgw inspect`: a dry run of one message, nothing sent and nothing counted.

Adds to the encoder's report (gateway/cli/inspect_report.py) the route the message would take and
the compliance verdict, evaluated on the recipient's shard with `consume=False` so frequency caps
are not touched. The verdict needs Redis for opt-outs, caps and suppressions; when Redis is
unreachable the report says so under `compliance.error` rather than guessing. With `--to`,
"sender" shows how the sender goes into submit_sm towards that country (source_addr, TON/NPI,
kind, US registration program) whether or not compliance allows it. `compliance.quiet_hours`
names the zones a marketing message's quiet window was judged in and whether a fallback decided.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from common.redis_errors import REDIS_UNAVAILABLE
from compliance.encoding import EncodingProfile
from compliance.errors import ComplianceError
from compliance.numbers import Destination, NumberParser
from compliance.registration import sender_program
from compliance.sender_id import sender_address
from compliance.settings import load_compliance_config
from compliance.verdict import Category, Outcome, Reason, Verdict
from gateway.carrier.pool import encoding_profile
from gateway.cli.inspect_report import build_inspect_report, render_inspect_text
from gateway.cli.recipient_shard import recipient_shard, shard_settings
from gateway.cli.redis_connection import open_redis
from gateway.config import DEFAULT_CONFIG, Settings
from gateway.engine.compliance_wiring import build_policy
from gateway.engine.plan import Admit, Defer, Finish, Plan, PlanContext, plan_message, refusal
from gateway.engine.routing_table import routing_table
from gateway.messages import OutboundMessage
from gateway.smpp.constants import Npi, Ton
from routing.errors import NoRouteError
from routing.select import select_carriers


async def inspect_message(
    settings: Settings, args: argparse.Namespace
) -> tuple[dict[str, Any], str]:
    """The report dict (stable JSON keys, see README) and its human rendering."""
    profile = _profile(settings, args.carrier)
    report = build_inspect_report(
        args.text, profile, to=args.to, sender=args.sender, smart=getattr(args, "smart", None)
    )
    if args.to:
        report["sender"] = _sender(settings, args)
        report["compliance"], plan = await _verdict(settings, args)
        if plan is not None:
            report["plan"] = plan
        destination = report["compliance"].get("destination_addr")
        country = report["compliance"].get("country")
        if destination is None:  # no verdict (e.g. Redis down): the route needs only the number
            parsed = NumberParser(default_region=None, cache_size=1).parse(args.to)
            if isinstance(parsed, Destination):
                destination, country = parsed.e164, parsed.region
        report["route"] = _route(settings, destination, country)
    return report, render_inspect_text(report)


def _sender(settings: Settings, args: argparse.Namespace) -> dict[str, Any] | None:
    """How the sender goes into submit_sm towards `to`'s country, refused or not: its
    source_addr, TON/NPI (numbers and names), kind and US registration program."""
    sender = args.sender or ""
    parsed = NumberParser(default_region=None, cache_size=1).parse(args.to)
    if not sender or not isinstance(parsed, Destination):
        return None
    config_dir = Path(settings.compliance.config_dir or DEFAULT_CONFIG.parent)
    try:
        rule = load_compliance_config(config_dir).countries.for_region(parsed.region)
    except ComplianceError:
        return None
    if rule is None:
        return None
    address = sender_address(sender, rule.sender, parsed.region)
    program = sender_program(address, parsed.country_code)
    return {
        "source_addr": address.source_addr,
        "ton": address.ton,
        "ton_name": Ton(address.ton).name,
        "npi": address.npi,
        "npi_name": Npi(address.npi).name,
        "kind": address.kind.value,
        "program": program.value if program is not None else None,
        "country": rule.country,
    }


def _profile(settings: Settings, carrier: str | None) -> EncodingProfile:
    if carrier is None:
        return encoding_profile(settings.carriers[0]) if settings.carriers else EncodingProfile()
    return encoding_profile(settings.carrier(carrier))


async def _verdict(
    settings: Settings, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The compliance verdict and the engine's plan for the message, decided as `smsgw run`
    decides them (gateway/engine/plan.py, then the shared-state checks), with caps not
    counted; every carrier is taken to be up."""
    message = OutboundMessage(id="inspect", to=args.to, sender=args.sender or "",
                              text=args.text, category=Category(args.category))  # fmt: skip
    client = open_redis(settings, connect_timeout=2)
    try:
        shard = recipient_shard(settings, client, args.to)  # where its opt-outs and caps live
        policy = build_policy(shard_settings(settings, shard), client)
        context = PlanContext(
            policy=policy,
            routes=routing_table(settings.routes),
            is_available=lambda _name: True,  # a dry run does not know which binds are up
            profile=lambda name: encoding_profile(settings.carrier(name)),
            rng=random.Random(0),
        )
        plan = plan_message(message, time.time(), context, reference=1, consume=False)
        verdict = await policy.admit(plan.prepared) if isinstance(plan, Admit) else plan.verdict
    except REDIS_UNAVAILABLE as error:  # one server, or a cluster's nodes or slot
        return {"error": f"redis unreachable: {error}"}, None
    except ComplianceError as error:
        return {"error": str(error)}, None
    finally:
        await client.aclose()
    if verdict is None:  # refused by the plan itself: too many parts for the carrier
        verdict = Verdict(outcome=Outcome.reject, reason=Reason.too_many_parts,
                          detail=plan.detail if not isinstance(plan, Admit) else "",
                          country=plan.country)  # fmt: skip
    return _verdict_keys(verdict), _plan_keys(plan, verdict)


def _verdict_keys(verdict: Verdict) -> dict[str, Any]:
    return {
        "outcome": verdict.outcome.value,
        "reason": verdict.reason.value,
        "detail": verdict.detail,
        "defer_until": verdict.defer_until.isoformat() if verdict.defer_until else None,
        "destination_addr": verdict.destination_addr,
        "source_addr": verdict.source_addr,
        "source_addr_ton": verdict.source_addr_ton,
        "source_addr_npi": verdict.source_addr_npi,
        "country": verdict.country,
        "max_parts": verdict.max_parts,
        "flags": list(verdict.flags),
        "quiet_hours": _quiet_hours(verdict),
    }


def _plan_keys(plan: Plan, verdict: Verdict) -> dict[str, Any]:
    """What `smsgw run` would do: `decision` (send, rejected, suppressed, deferred, failed)
    with its `reason`, and for a message it sends the carrier, encoding and parts."""
    if isinstance(plan, Admit) and verdict.outcome is not Outcome.allow:
        plan = refusal(verdict)
    if isinstance(plan, Defer):
        return _decision("deferred", plan.code)
    if isinstance(plan, Finish):
        return _decision(plan.status.value, plan.code)
    if plan.route_error is not None or plan.encoded is None:
        return _decision("failed", "no_route" if isinstance(plan.route_error, NoRouteError)
                         else "no_carrier_available")  # fmt: skip
    return {
        "decision": "send",
        "reason": None,
        "carrier": plan.carriers[0],
        "encoding": plan.encoded.encoding.value,
        "parts": len(plan.encoded.parts),
    }


def _decision(decision: str, reason: str) -> dict[str, Any]:
    return {"decision": decision, "reason": reason, "carrier": None, "encoding": None,
            "parts": None}  # fmt: skip


def _quiet_hours(verdict: Verdict) -> dict[str, Any] | None:
    """Marketing only: the zones whose quiet window was judged, and any fallback (else None).

    "fallbacks" may hold "primary_zone" (the number's zones never open together, so the
    country's primary zone decided) and "country_window" (a tenant window never opens with the
    country's, so only the country's was honoured).
    """
    if not verdict.quiet_zones:
        return None
    fallbacks = [fallback.value for fallback in verdict.quiet_fallbacks]
    return {
        "zones": list(verdict.quiet_zones),
        "primary_zone_fallback": "primary_zone" in fallbacks,
        "fallbacks": fallbacks,
    }


def _route(settings: Settings, destination: str | None, country: str | None) -> dict[str, Any]:
    if not destination:
        return {"carriers": [], "error": "no valid destination"}
    try:
        carriers = select_carriers(
            routing_table(settings.routes),
            destination=destination,
            country=country,
            is_available=lambda _name: True,  # a dry run does not know which binds are up
            rng=random.Random(0),
        )
    except NoRouteError as error:
        return {"carriers": [], "error": str(error)}
    return {"carriers": carriers, "error": None}
