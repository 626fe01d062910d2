"""`smsgw` command line: run, send, status, inspect, optout, simulator.

Exit codes: 0 success, 1 runtime failure (e.g. Redis unreachable), 2 bad usage or config.
A config error or an unreachable Redis is reported on one line of stderr (the Redis URL with
its password masked, and the cause), never as a traceback.

With `streams.shards` > 1 (or on Redis Cluster) `send`, `optout` and `inspect` work on the
recipient's shard, as `smsgw run` does (gateway/cli/recipient_shard.py), `send` names the
stream it used and `status` looks in every shard and names the one that holds the message.
With `redis_cluster: true` every command talks to the cluster through redis-py's cluster
client, as `smsgw run` does (gateway/cli/redis_connection.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from common.gc_tuning import tune_gc
from common.redis_errors import REDIS_UNAVAILABLE
from compliance.errors import ComplianceStoreError
from gateway.cli.redis_connection import check_redis, open_redis
from gateway.config import Settings, load_settings, redacted_url
from gateway.errors import ConfigError, QueueUnavailableError
from gateway.store.keys import Keys
from gateway.store.redis_client import RedisClient
from gateway.store.shards import Shard, ShardMap

if TYPE_CHECKING:
    from gateway.engine.runner import Engine


# Redis (one server, a cluster's nodes, or a slot's master) cannot answer: exit 1, one line.
REDIS_DOWN: tuple[type[Exception], ...] = (*REDIS_UNAVAILABLE, QueueUnavailableError)
# ... and what the compliance store (optout, inspect) raises, for it or for a refused command
_STORE_FAILED: tuple[type[Exception], ...] = (*REDIS_DOWN, ComplianceStoreError)
CONFIG_HELP = "YAML config file (default: $SMSGW_CONFIG, else config/smsgw.yaml)"
CATEGORIES = ["transactional", "otp", "marketing"]


def _config_option() -> argparse.ArgumentParser:
    """`--config` for each subcommand, so `smsgw run --config F` works as `smsgw --config F run`
    does. SUPPRESS leaves the namespace alone when it is absent after the subcommand, so it never
    clobbers the value given before it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The `smsgw` argument parser (every subcommand but `simulator`, which parses its own)."""
    parser = argparse.ArgumentParser(prog="smsgw", description="SMPP gateway and SMS engine")
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    config = [_config_option()]
    sub.add_parser("run", parents=config, help="run the delivery engine until SIGTERM/SIGINT")
    _add_send(
        sub.add_parser("send", parents=config, help="enqueue one message on the outbound stream")
    )
    status = sub.add_parser("status", parents=config, help="print a message's state and history")
    status.add_argument("message_id", help="the message's id (the `id` it was enqueued with)")
    status.add_argument(
        "--to",
        default=None,
        help="its recipient: look only in that recipient's shard (default: every shard)",
    )
    _add_inspect(
        sub.add_parser(
            "inspect", parents=config, help="dry run: encoding, parts, route and verdict"
        )
    )
    optout = sub.add_parser("optout", parents=config, help="manage opt-outs")
    optout.add_argument(
        "action",
        choices=["add", "remove", "check"],
        help="add or remove an opt-out, or check whether one applies",
    )
    optout.add_argument("msisdn", help="the number, E.164 (+447911123456)")
    optout.add_argument(
        "--sender", default=None, help="the opt-out of this sender only (default: of every sender)"
    )
    sub.add_parser("simulator", help="run the SMSC simulator (see `smsgw simulator --help`)")
    return parser


def _add_send(send: argparse.ArgumentParser) -> None:
    send.add_argument(
        "--to", required=True, help="recipient: E.164 (+447911123456), or national with --country"
    )
    send.add_argument("--text", required=True, help="the message text")
    send.add_argument(
        "--from",
        dest="sender",
        default="",
        help="sender: alphanumeric (up to 11), long code or short code",
    )
    send.add_argument(
        "--id",
        dest="message_id",
        default=None,
        help="message id, also the idempotency key (default: a random one)",
    )
    send.add_argument(
        "--category",
        default="transactional",
        choices=CATEGORIES,
        help="default transactional; only marketing is held by quiet hours and caps",
    )
    send.add_argument("--country", default=None, help="ISO 3166 alpha-2 hint for a national number")
    send.add_argument("--send-at", default=None, help="ISO-8601 time: not sent before it")
    send.add_argument("--expires-at", default=None, help="ISO-8601 time: never sent after it")
    send.add_argument(
        "--priority",
        type=int,
        default=None,
        help="-1000..1000, higher goes first within a category",
    )


def _add_inspect(inspect: argparse.ArgumentParser) -> None:
    inspect.add_argument("--text", required=True, help="the message text to encode and segment")
    inspect.add_argument(
        "--to", default=None, help="recipient (E.164): adds route, compliance and plan"
    )
    inspect.add_argument(
        "--from",
        dest="sender",
        default=None,
        help="sender, judged by the destination country's rules",
    )
    inspect.add_argument("--carrier", default=None, help="use this carrier's encoding profile")
    inspect.add_argument(
        "--category",
        default="transactional",
        choices=CATEGORIES,
        help="message category, as the engine would judge it",
    )
    inspect.add_argument("--json", action="store_true", help="stable JSON output")
    inspect.add_argument(
        "--smart",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force smart encoding (look-alikes replaced to stay GSM-7) on or off",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `smsgw` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    simulator_argv = _simulator_argv(args_list)
    if simulator_argv is not None:  # the simulator's own command, flags and config: this
        # process becomes `python -m simulator` (the gateway imports nothing of the simulator)
        os.execv(sys.executable, [sys.executable, "-m", "simulator", *simulator_argv])  # noqa: S606
    args = build_parser().parse_args(args_list)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"smsgw: config error: {error}", file=sys.stderr)
        return 2
    handlers = {
        "run": _run,
        "send": _send,
        "status": _status,
        "inspect": _inspect,
        "optout": _optout,
    }
    try:
        return _run_async(_start(handlers[args.command], settings, args))
    except _STORE_FAILED as error:
        # the compliance store (optout, inspect) wraps redis-py's error as the queue does
        wrapped = error.__cause__ if not isinstance(error, REDIS_UNAVAILABLE) else None
        if isinstance(error, ComplianceStoreError) and not isinstance(wrapped, REDIS_DOWN):
            print(f"smsgw: {' '.join(str(error).split())}", file=sys.stderr)  # a refusal
            return 1
        cause = " ".join(str(wrapped or error).split())  # one line
        print(f"smsgw: redis unreachable at {redacted_url(settings.redis_url)}: {cause}",
              file=sys.stderr)  # fmt: skip
        return 1
    except ConfigError as error:
        print(f"smsgw: config error: {error}", file=sys.stderr)
        return 2


def _simulator_argv(args_list: Sequence[str]) -> list[str] | None:
    """The simulator's own argv when the command is `simulator`, else None.

    A `--config F` written before the word `simulator` is the simulator's config file, as it
    is after it: `smsgw --config F simulator` is `smsgw simulator --config F`.
    """
    leading: list[str] = []
    rest = list(args_list)
    while rest and (rest[0] == "--config" or rest[0].startswith("--config=")):
        taken = 1 if "=" in rest[0] else 2
        leading += rest[:taken]
        rest = rest[taken:]
    if rest[:1] != ["simulator"]:
        return None
    return [*rest[1:], *leading]


# Commands that need Redis: it is checked before they start (inspect reports it in its output).
REDIS_COMMANDS = frozenset({"run", "send", "status", "optout"})


async def _start(
    handler: Callable[[Settings, argparse.Namespace], Awaitable[int]],
    settings: Settings,
    args: argparse.Namespace,
) -> int:
    """Run `handler` once Redis answers (`check_redis`: PING, or a cluster's slot map), so
    `smsgw run` with Redis down fails at once, before it logs or serves anything."""
    if args.command in REDIS_COMMANDS:
        await check_redis(settings)
    return await handler(settings, args)


def _run_async(coroutine: Any) -> int:
    try:
        import uvloop

        result: int = uvloop.run(coroutine)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        result = asyncio.run(coroutine)
    return result


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from common.logging import configure_logging
    from gateway.engine.runner import Engine
    from gateway.ops.ops_server import start_ops_server

    configure_logging(settings.logging.level, render_json=settings.logging.json)
    engine = Engine(settings)
    tune_gc()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[None]] = set()

    def on_sighup() -> None:
        task = loop.create_task(_reload(engine, args.config))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    server = None
    if settings.ops.enabled:
        server = await start_ops_server(
            settings.ops.host,
            settings.ops.port,
            registry=engine.registry,
            readiness=engine.readiness,
        )
    try:
        await engine.run(stop)
    finally:
        if server is not None:
            await server.stop()
    return 0


async def _reload(engine: Engine, path: str | None) -> None:
    """SIGHUP: re-read the config file and apply its carriers and routes; a bad file is
    reported and changes nothing."""
    import structlog

    log = structlog.get_logger()
    try:
        settings = load_settings(path)
        await engine.reload(settings)
    except ConfigError as error:
        log.error("config_reload_failed", error=str(error))  # noqa: TRY400 - the message is the report


async def _send(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.cli.recipient_shard import recipient_shard

    message: dict[str, Any] = {
        "id": args.message_id or uuid.uuid4().hex,
        "to": args.to,
        "from": args.sender,
        "text": args.text,
        "category": args.category,
    }
    optional = {
        "country": args.country,
        "send_at": args.send_at,
        "expires_at": args.expires_at,
        "priority": args.priority,
    }
    message.update({key: value for key, value in optional.items() if value is not None})
    client = open_redis(settings)
    try:
        shard = recipient_shard(settings, client, args.to, args.country)
        data = json.dumps(message, ensure_ascii=False)
        entry = await client.xadd(shard.streams.outbound, {"data": data})
    finally:
        await client.aclose()
    entry_id = entry.decode() if isinstance(entry, bytes) else entry
    output = {"id": message["id"], "entry": entry_id}
    if ShardMap.from_settings(settings).sharded:  # the stream is the configured one otherwise
        output["stream"] = shard.streams.outbound
    print(json.dumps(output))
    return 0


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    client = open_redis(settings)
    try:
        found = await _find_message(settings, client, args.message_id, args.to)
    finally:
        await client.aclose()
    if not found:
        print(f"smsgw: no message with id {args.message_id!r}", file=sys.stderr)
        return 1
    shard, record, history = found[0]
    if len(found) > 1:  # one id, recipients in different shards: two messages (README)
        others = ", ".join(str(other.index) for other, _, _ in found[1:])
        print(f"smsgw: id {args.message_id!r} is also in shard(s) {others}; --to picks one",
              file=sys.stderr)  # fmt: skip
    record.pop("payload", None)  # message text is not echoed
    output: dict[str, Any] = {"id": args.message_id}
    if ShardMap.from_settings(settings).sharded:
        output["shard"] = shard.index
    output |= {"state": record, "history": [json.loads(h) for h in history]}
    print(json.dumps(output, indent=2, ensure_ascii=False))
    return 0


async def _find_message(
    settings: Settings, client: RedisClient, message_id: str, to: str | None
) -> list[tuple[Shard, dict[str, str], list[bytes]]]:
    """The hash and history of `message_id` in each shard that has it, lowest shard first:
    the shard of recipient `to` only, else every shard, read in one pipeline (on a cluster,
    one per master: each shard's two keys share its slot)."""
    if to is not None:
        from gateway.cli.recipient_shard import recipient_shard

        shards: tuple[Shard, ...] = (recipient_shard(settings, client, to),)
    else:
        shards = ShardMap.from_settings(settings).shards
    async with client.pipeline(transaction=False) as pipe:
        for shard in shards:  # a pipeline's command queues it and returns the pipeline, which
            # redis-py types as an awaitable
            keys = Keys(shard.prefix, shard.streams)
            _ = pipe.hgetall(keys.message(message_id))
            _ = pipe.lrange(keys.history(message_id), 0, -1)
        replies = await pipe.execute()
    return [
        (shard, _decoded(record), history)
        for shard, record, history in zip(shards, replies[::2], replies[1::2], strict=True)
        if record
    ]


def _decoded(record: dict[bytes, bytes]) -> dict[str, str]:
    return {key.decode(): value.decode(errors="replace") for key, value in record.items()}


async def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.cli.inspect_command import inspect_message

    report, text = await inspect_message(settings, args)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else text)
    return 0


async def _optout(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from compliance.redis_keys import ComplianceKeys
    from compliance.redis_stores import RedisComplianceStore
    from gateway.cli.recipient_shard import recipient_shard, shard_settings
    from gateway.engine.compliance_wiring import build_policy

    client = open_redis(settings)
    try:
        shard = recipient_shard(settings, client, args.msisdn)  # its opt-outs live there
        policy = build_policy(shard_settings(settings, shard), client)
        if args.action == "add":
            msisdn = await policy.opt_out(args.msisdn, args.sender, datetime.now(UTC))
        elif args.action == "remove":
            msisdn = await policy.opt_in(args.msisdn, args.sender)
        else:
            parsed = policy.numbers.parse(args.msisdn, None)
            msisdn = getattr(parsed, "e164", None)
        if msisdn is None:
            print(f"smsgw optout: {args.msisdn!r} is not a valid phone number", file=sys.stderr)
            return 2
        store = RedisComplianceStore(client, ComplianceKeys(prefix=shard.prefix))
        sender = policy.sender_scope(args.sender) if args.sender else ""
        scope = await store.opted_out(msisdn, sender)
    finally:
        await client.aclose()
    print(json.dumps({"msisdn": msisdn, "opted_out": scope is not None,
                      "scope": scope.value if scope else None}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
