"""`smsgw simulator ...`: run the SMSC simulator, or talk to a running one's control endpoint.

    smsgw simulator [--config FILE] [--host H] [--port N] [--system-id X --password Y] ...
    smsgw simulator mo --control URL --from N --to N --text "STOP" [--system-id X]
    smsgw simulator stats --control URL
    smsgw simulator faults --control URL [--set KEY=VALUE ...]

Flags override the config file; the config file overrides the defaults documented in
`config/simulator.yaml`. Exit status: 0 on success, 1 on a runtime failure, 2 on bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.gc_tuning import tune_gc
from common.logging import configure_logging
from simulator.config import SimulatorConfig, load_config
from simulator.server import SimulatorServer

DEFAULT_CONTROL_URL = "http://127.0.0.1:9200"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; `argv` excludes the program name (and the word `simulator`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _CLIENT_COMMANDS:
        return _CLIENT_COMMANDS[args[0]](args[1:])
    return _serve(args)


# --- running the simulator ----------------------------------------------------------------------


def _server_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smsgw simulator",
        description="SMPP 3.4 SMSC simulator. Subcommands: mo, stats, faults (see --help of each).",
    )
    p.add_argument("--config", type=Path, help="YAML file (see config/simulator.yaml)")
    p.add_argument("--host", help="SMPP listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="SMPP port (default 2775; 0 picks a free one)")
    p.add_argument("--system-id", help="accept this system_id (with --password)")
    p.add_argument("--password", help="password for --system-id")
    p.add_argument("--max-binds", type=int, help="binds allowed per system_id")
    p.add_argument(
        "--session-init-timeout",
        type=float,
        help="close a connection not bound within this many seconds (default 30; 0 = never)",
    )
    p.add_argument("--control-host", help="control endpoint address (default 127.0.0.1)")
    p.add_argument("--control-port", type=int, help="control endpoint port (default 9200)")
    p.add_argument("--no-control", action="store_true", help="disable the control endpoint")
    p.add_argument(
        "--message-id-format",
        choices=("decimal", "hex"),
        help="how message ids are written in submit_sm_resp (default decimal)",
    )
    p.add_argument("--dlr-delay", type=float, help="seconds from submit to receipt")
    p.add_argument("--dlr-jitter", type=float, help="extra random delay, 0..N seconds")
    p.add_argument(
        "--outcomes", help="receipt outcome mix, e.g. DELIVRD=0.9,UNDELIV=0.05,EXPIRED=0.05"
    )
    p.add_argument("--tps", type=float, help="submits/s per system_id, over = ESME_RTHROTTLED")
    p.add_argument("--error-share", type=float, help="share of submits answered with an error")
    p.add_argument("--error-status", help="that error (name or number, default ESME_RSYSERR)")
    p.add_argument("--response-delay", type=float, help="seconds before each response")
    p.add_argument("--drop-after", type=int, help="drop each connection after N requests")
    p.add_argument(
        "--ignore-enquire-link",
        action="store_true",
        default=None,
        help="never answer enquire_link (the client should declare the link dead)",
    )
    p.add_argument(
        "--dlr-before-resp",
        action="store_true",
        default=None,
        help="send the receipt before the submit_sm_resp (a correlation race)",
    )
    p.add_argument("--seed", type=int, help="seed the simulator's random choices")
    p.add_argument(
        "--journal", metavar="PATH", help="append one JSON line per submit_sm/data_sm answered"
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="default info; debug logs reassembled text",
    )
    return p


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """The flags given, shaped like the YAML (so they go through the same validation)."""
    top = {
        "host": ns.host,
        "port": ns.port,
        "max_binds": ns.max_binds,
        "session_init_timeout": ns.session_init_timeout,
        "control_host": ns.control_host,
        "control_port": ns.control_port,
        "message_id_format": ns.message_id_format,
        "seed": ns.seed,
        "log_level": ns.log_level,
        "journal": ns.journal,
    }
    receipts = {"delay": ns.dlr_delay, "delay_jitter": ns.dlr_jitter}
    if ns.outcomes:
        receipts["outcomes"] = _parse_outcomes(ns.outcomes)
    faults = {
        "tps": ns.tps,
        "error_share": ns.error_share,
        "error_status": _status_arg(ns.error_status),
        "response_delay": ns.response_delay,
        "drop_after_pdus": ns.drop_after,
        "ignore_enquire_link": ns.ignore_enquire_link,
        "dlr_before_resp": ns.dlr_before_resp,
    }
    result: dict[str, Any] = {k: v for k, v in top.items() if v is not None}
    if ns.no_control:
        result["control_port"] = None
    if ns.system_id is not None:
        result["accounts"] = [{"system_id": ns.system_id, "password": ns.password or ""}]
    for key, section in (("receipts", receipts), ("faults", faults)):
        given = {k: v for k, v in section.items() if v is not None}
        if given:
            result[key] = given
    return result


def _parse_outcomes(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        try:
            mix[name.strip().upper()] = float(weight)
        except ValueError:
            raise ConfigError(f"receipts.outcomes: bad item {item!r} (want NAME=weight)") from None
    return mix


def _status_arg(text: str | None) -> str | int | None:
    if text is None:
        return None
    return int(text, 0) if text[:1].isdigit() else text


def _serve(argv: list[str]) -> int:
    ns = _server_parser().parse_args(argv)
    if ns.password is not None and ns.system_id is None:
        print("error: --password needs --system-id", file=sys.stderr)
        return 2
    try:
        config = load_config(ns.config, _overrides(ns))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    try:
        _run(_serve_forever(config))
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _run(coroutine: Any) -> None:
    """Run under uvloop when it is installed (the performance target assumes it)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


async def _serve_forever(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(config):
        tune_gc()
        await stop.wait()


# --- talking to a running simulator ---------------------------------------------------------


def _mo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="smsgw simulator mo", description="Inject an MO message.")
    p.add_argument("--control", default=DEFAULT_CONTROL_URL, help="control endpoint URL")
    p.add_argument("--from", dest="source", required=True, help="sender MSISDN")
    p.add_argument("--to", dest="destination", required=True, help="our number or short code")
    p.add_argument("--text", required=True, help="the message text")
    p.add_argument("--system-id", help="deliver to this account's receiver (default: any)")
    ns = p.parse_args(argv)
    body: dict[str, Any] = {"from": ns.source, "to": ns.destination, "text": ns.text}
    if ns.system_id:
        body["system_id"] = ns.system_id
    return _call(ns.control, "/mo", body)


def _stats(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="smsgw simulator stats", description="Print counters.")
    p.add_argument("--control", default=DEFAULT_CONTROL_URL, help="control endpoint URL")
    return _call(p.parse_args(argv).control, "/stats", None)


def _faults(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="smsgw simulator faults", description="Show or change fault switches."
    )
    p.add_argument("--control", default=DEFAULT_CONTROL_URL, help="control endpoint URL")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. --set tps=50 --set dlr_before_resp=true (values are YAML)",
    )
    ns = p.parse_args(argv)
    if not ns.set:
        return _call(ns.control, "/faults", None)
    patch: dict[str, Any] = {}
    for item in ns.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --set {item!r}: want KEY=VALUE", file=sys.stderr)
            return 2
        patch[key.strip()] = _yaml_scalar(value)
    return _call(ns.control, "/faults", patch)


def _yaml_scalar(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _call(base_url: str, path: str, body: dict[str, Any] | None) -> int:
    """GET (body None) or POST JSON to the control endpoint; print the JSON answer."""
    url = base_url.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        print(f"error: --control must be an http URL, got {base_url!r}", file=sys.stderr)
        return 2
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")  # noqa: S310 - scheme checked above
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - scheme checked above
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(f"error: HTTP {error.code}: {error.read().decode().strip()}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"error: cannot reach {url}: {error}", file=sys.stderr)
        return 1


_CLIENT_COMMANDS = {"mo": _mo, "stats": _stats, "faults": _faults}
