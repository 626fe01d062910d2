"""Where Redis's time goes per message: the gateway's Lua scripts, recorded and replayed.

One throughput run of benchmarks/e2e (`--messages`, ops off) is recorded with MONITOR. Its
client commands (the driver's XADDs, the gateway's stream reads and script calls; not what
the scripts run inside) are then replayed in order against a fresh redis-server, from an
empty database, `--rounds` times. Each script call is timed by Redis itself: the
commandstats time of EVALSHA before and after it. The replay runs alone, so the figures are
the scripts' own cost, without the run's contention for the CPUs; as the same capture is
replayed each round, the rounds differ only by the machine's noise.

apply.lua's calls that hold only the records of accepted submits and receipts are split in
two calls, the records first (`apply:submitted`), then the receipts (`apply:receipt`), so
each is timed on its own; a receipt still comes after its submit, as in the run.

Scripts are known by the SHA1 of this checkout's text, so a capture is replayed with the
scripts that made it. To compare two versions of a script, run this in each checkout: the
traffic is the same (fixed seed); how it batches varies a little from run to run.

    .venv/bin/python -m benchmarks.redis_scripts [--messages 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import socket
import statistics
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from benchmarks.e2e import WARMUP, parse_args, run_scenario, throughput
from benchmarks.e2e_stack import Stack
from compliance.redis_stores import CHECK_SCRIPT
from gateway.cli.child_process import free_port, redis_server_process
from gateway.engine.admission import ACCEPT_ADMIT_SCRIPT, ADMIT_SCRIPT
from gateway.store.state_store import lua_script
from routing.throttle import BUCKET_SCRIPT

# the commands of the run that change nothing a later command reads, or that only the
# driver's event tail and the gateway's gauges send
SKIPPED = {b"HELLO", b"INFO", b"SCRIPT", b"XREAD", b"CLIENT", b"PING", b"XLEN", b"XINFO",
           b"SELECT", b"CONFIG", b"MONITOR", b"XPENDING", b"TIME"}  # fmt: skip
_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}


def known_scripts() -> dict[str, tuple[str, str]]:
    """SHA1 -> (name, text) of the scripts the gateway runs."""
    texts = {
        "accept": lua_script("accept"),
        "apply": lua_script("apply"),
        "admit": ADMIT_SCRIPT,
        "accept_admit": ACCEPT_ADMIT_SCRIPT,
        "check": CHECK_SCRIPT,
        "bucket": BUCKET_SCRIPT,
        **{name: lua_script(name) for name in ("claim_due", "expire_receipts", "claim_orphans")},
    }
    return {
        hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest(): (name, text)
        for name, text in texts.items()
    }


def monitor_words(line: str) -> list[bytes]:
    """The arguments of one MONITOR line (`+<ts> [<db> <client>] "arg" "arg" ...`), unquoted
    as Redis quoted them (sdscatrepr: \\n \\r \\t \\a \\b \\" \\\\ and \\xHH)."""
    i = line.index("] ") + 2
    words: list[bytes] = []
    while i < len(line):
        i += 1  # the opening quote
        word = bytearray()
        while line[i] != '"':
            if line[i] == "\\":
                if line[i + 1] == "x":
                    word.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                    continue
                word += _ESCAPES[line[i + 1]]
                i += 2
                continue
            word += line[i].encode("utf-8", "surrogateescape")
            i += 1
        words.append(bytes(word))
        i += 2  # the closing quote and the space after it
    return words


@dataclass(slots=True)
class Recording:
    """MONITOR's lines, read by a thread until `stop`."""

    port: int
    lines: list[str] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._sock = socket.create_connection(("127.0.0.1", self.port))
        self._sock.sendall(b"MONITOR\r\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._sock is not None
        pending = b""
        with contextlib.suppress(OSError):
            while chunk := self._sock.recv(1 << 20):
                pending += chunk
                *done, pending = pending.split(b"\r\n")
                self.lines += [d.decode("utf-8", "surrogateescape") for d in done]

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)


@dataclass(frozen=True, slots=True)
class Call:
    """One command to replay: a script's (name, and KEYS count and words after the SHA) or
    another command's words."""

    script: str | None
    words: list[bytes]


def replay_calls(lines: Sequence[str], scripts: dict[str, tuple[str, str]]) -> list[Call]:
    """The client commands of a recording, in order, apply.lua's split where it can be."""
    calls: list[Call] = []
    for line in lines:
        if '] "' not in line or " lua]" in line:  # the OK, and the commands scripts ran
            continue
        words = monitor_words(line)
        name = words[0].upper()
        if name in SKIPPED:
            continue
        if name == b"XREADGROUP":  # a script may not block, nor may a replay wait
            upper = [w.upper() for w in words]
            if b"BLOCK" in upper:
                at = upper.index(b"BLOCK")
                words = words[:at] + words[at + 2 :]
        if name != b"EVALSHA":
            calls.append(Call(None, words))
            continue
        known = scripts.get(words[1].decode())
        if known is None:
            continue  # a script of another checkout: not replayable here
        if known[0] == "apply":
            calls += _split_apply(words[2:])
        else:
            calls.append(Call(known[0], words[2:]))
    return calls


def _split_apply(words: list[bytes]) -> list[Call]:
    """An apply.lua call of scope, submitted and receipt ops only as two calls (records,
    then receipts); any other as it was."""
    ops = json.loads(words[-1])
    scope: list[object] = []
    submitted: list[object] = []
    receipts: list[object] = []
    i = 0
    while i < len(ops):
        if ops[i] == "scope":
            scope, i = ops[i : i + 7], i + 7
        elif ops[i] == "submitted":
            end = i + 13 + 2 * int(ops[i + 12])
            submitted += ops[i:end]
            i = end
        elif ops[i] == "receipt":
            end = i + 10 + int(ops[i + 2])
            receipts += ops[i:end]
            i = end
        else:
            return [Call("apply", words)]
    head = words[:-1]
    return [
        Call(f"apply:{kind}", [*head, json.dumps(scope + part).encode()])
        for kind, part in (("submitted", submitted), ("receipt", receipts))
        if part
    ]


def evalsha_usec(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("usec", 0))


def replay(calls: Sequence[Call], scripts: dict[str, tuple[str, str]], rounds: int,
           workdir: Path) -> list[Counter[str]]:  # fmt: skip
    """Each round's usec per script name, from a fresh database each time."""
    port = free_port()
    by_name = dict(scripts.values())
    per_round: list[Counter[str]] = []
    with redis_server_process(port, data_dir=workdir, log_path=workdir / "replay-redis.log"):
        client = redis.Redis(port=port)
        shas = {name: client.script_load(text) for name, text in by_name.items()}
        for _ in range(rounds):
            client.flushall()
            spent: Counter[str] = Counter()
            for call in calls:
                if call.script is None:
                    with contextlib.suppress(redis.ResponseError):  # a group made twice
                        client.execute_command(*call.words)  # type: ignore[no-untyped-call]
                    continue
                before = evalsha_usec(client)
                sha = shas[call.script.partition(":")[0]]
                client.evalsha(sha, int(call.words[0]), *call.words[1:])
                spent[call.script] += evalsha_usec(client) - before
            per_round.append(spent)
        client.close()
    return per_round


def record(opts_argv: Sequence[str], workdir: Path) -> tuple[list[str], int]:
    """MONITOR's lines of one throughput run, and how many messages it carried."""
    opts = parse_args([*opts_argv, "--seconds", "1"])
    recording: list[Recording] = []
    carried: list[int] = []

    async def body(stack: Stack) -> object:
        watch = Recording(stack.redis_ports["redis"])
        watch.start()
        recording.append(watch)
        try:
            result = await throughput(stack, opts, "recorded throughput")
        finally:
            watch.stop()
        carried.append(result.messages + WARMUP)
        return result

    if run_scenario(workdir / "recorded", opts, ops=False, body=body) is None:
        raise SystemExit("the recorded run failed")
    return recording[0].lines, carried[0]


def report(per_round: Sequence[Counter[str]], calls: Sequence[Call], messages: int) -> None:
    names = sorted({name for spent in per_round for name in spent})
    counts = Counter(c.script for c in calls if c.script is not None)
    print(f"\nscript time per message, replayed alone ({messages:,} messages incl. warm-up; "
          f"median of {len(per_round)} rounds)")  # fmt: skip
    total = 0.0
    for name in sorted(names, key=lambda n: -statistics.median(r[n] for r in per_round)):
        usec = statistics.median(r[name] for r in per_round)
        total += usec
        print(f"  {name:18s} {counts[name]:5d} calls  {usec / messages:6.2f} us/msg")
    print(f"  {'all scripts':18s} {sum(counts.values()):5d} calls  {total / messages:6.2f} us/msg")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000, help="size of the recorded run")
    parser.add_argument("--rounds", type=int, default=5, help="replays of the recording")
    args = parser.parse_args(argv)
    scripts = known_scripts()
    with _workdir() as workdir:
        lines, messages = record(["--messages", str(args.messages)], workdir)
        calls = replay_calls(lines, scripts)
        print(f"recorded {len(lines):,} MONITOR lines; replaying {len(calls):,} client commands")
        report(replay(calls, scripts, args.rounds, workdir), calls, messages)
    return 0


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="smsgw-redis-scripts-") as name:
        yield Path(name)


if __name__ == "__main__":
    sys.exit(main())
