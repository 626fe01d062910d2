"""What `python -m benchmarks.e2e --cluster` measures and prints: each run's figures, Redis calls
per message, the cluster's overhead against one redis-server, and the lost and duplicated
messages. Used by benchmarks/e2e_cluster.py.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchmarks.e2e_report import GATEWAY_TRIPS, ms_cell, percentile

if TYPE_CHECKING:
    from benchmarks.e2e import Options

SINGLE, REPLICATED = "single Redis", "single Redis + replica"
BARE_CLUSTER, CLUSTER = "Redis Cluster, no replicas", "Redis Cluster"
SETUPS = (SINGLE, REPLICATED, BARE_CLUSTER, CLUSTER)
# (cluster, single server) pairs the bar judges: alike but for cluster mode (no replica on
# either side, or one per master on both)
LIKE_FOR_LIKE = ((BARE_CLUSTER, SINGLE), (CLUSTER, REPLICATED))
PACED, SATURATED = "paced", "saturated"
OVERHEAD_BAR = 15.0  # %: what cluster mode may cost against one redis-server (issue 15)
DISTURBED = 20.0  # % of a core: other processes of the machine busier than this mark a run


@dataclass(slots=True, kw_only=True)
class Run:
    """One load on one setup: the figures the report compares."""

    setup: str  # one of SETUPS
    load: str  # PACED or SATURATED
    repeat: int
    messages: int
    rate: float  # msgs/s: the offered rate achieved (paced), the throughput (saturated)
    accept_ms: list[float] = field(default_factory=list)  # XADD -> accepted, per message
    submit_ms: list[float] = field(default_factory=list)  # XADD -> submitted, per message
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by process group
    cpu_percent: dict[str, float] = field(default_factory=dict)  # of one core, by group
    master_seconds: float = 0.0  # the Redis masters' CPU time (the single server's)
    calls: dict[str, int] = field(default_factory=dict)  # commandstats, over the masters
    stage_cpu: dict[str, float] = field(default_factory=dict)  # every instance's, summed
    lost: int = 0
    duplicates: int = 0
    not_delivered: int = 0
    steal: float = float("nan")

    def per_message_ms(self, group: str) -> float:
        return 1000 * self.cpu_seconds.get(group, float("nan")) / self.messages

    @property
    def machine_ms(self) -> float:
        """CPU per message of the gateways and Redis together: on a machine they share, the
        figure that bounds throughput."""
        return self.per_message_ms("gateway") + self.per_message_ms("redis")

    @property
    def accept_p50(self) -> float:
        return percentile(self.accept_ms, 0.5)

    @property
    def p50(self) -> float:
        return percentile(self.submit_ms, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.submit_ms, 0.99)


# --- report ----------------------------------------------------------------------------------


def print_cluster_header(opts: Options) -> None:
    print(
        f"  --cluster: {opts.instances} `smsgw run` instances, streams.shards {opts.shards}, on "
        "(a) one redis-server, (b) one redis-server with a replica attached, (c) a 3-master "
        "Redis Cluster without replicas and (d) a 3-master + 3-replica Redis Cluster; no "
        f"persistence on any; redis_wait.replicas {opts.redis_wait} on (b) and (d)"
    )
    print(
        f"  loads on each: {opts.rate:,.0f} msgs/s offered for {opts.seconds:g} s, then "
        f"{opts.messages:,} messages at once; {opts.repeats} run(s) of each setup"
    )


def _label(run: Run) -> str:
    load = "saturated" if run.load == SATURATED else f"{run.rate:,.0f}/s"
    mark = " *" if _disturbed(run) else ""
    return f"{run.setup}, {load}" + (f" #{run.repeat + 1}" if run.repeat else "") + mark


def _disturbed(run: Run) -> bool:
    return run.cpu_percent.get("others", 0.0) > DISTURBED


def print_runs(runs: Sequence[Run]) -> None:
    print(
        f"\n{'setup, load':<38} {'msgs':>6} {'msgs/s':>7} {'acc p50':>8} {'sub p50':>8} "
        f"{'sub p99':>8} {'gw ms/msg':>9} {'redis ms/msg':>12} {'masters':>8}  "
        "CPU % gw/redis/sim/driver/others "
        f"{'lost':>5} {'dup':>4} {'steal %':>7}"
    )
    for r in runs:
        cpu = "/".join(
            f"{r.cpu_percent.get(k, float('nan')):.0f}"
            for k in ("gateway", "redis", "simulator", "driver", "others")
        )
        print(
            f"{_label(r):<38} {r.messages:>6} {r.rate:>7,.0f} {ms_cell(r.accept_p50)} "
            f"{ms_cell(r.p50)} {ms_cell(r.p99)} {r.per_message_ms('gateway'):>9.3f} "
            f"{r.per_message_ms('redis'):>12.3f} "
            f"{1000 * r.master_seconds / r.messages:>8.3f}  {cpu:<32} {r.lost:>5} "
            f"{r.duplicates:>4} {r.steal:>7.1f}"
        )
        if r.not_delivered:
            print(f"{'':<38} {r.not_delivered} ended in a final status other than delivered")
    print(
        "  (acc/sub = ms from XADD to the accepted/submitted event; msgs/s: the offered rate "
        "achieved, or messages / (last delivered - first XADD) at saturation;\n"
        "   gw ms/msg: CPU time of every `smsgw run` instance per message; redis ms/msg: of "
        "every redis-server process (replicas included), masters: of the "
        "masters only;\n   CPU %: of one core, summed over a group's processes; others: the "
        "machine's processes that are not this run's (a busy neighbour slows a run);\n   "
        "lost: no final event within --timeout; dup: a second submitted or final event for an id)"
    )
    if any(_disturbed(r) for r in runs):
        print(
            f"  * other processes of the machine used more than {DISTURBED:.0f}% of a core "
            "during this run: its figures are suspect (more --repeats, or a quieter machine)"
        )


def print_calls(runs: Sequence[Run]) -> None:
    """Redis calls per message by command, pooled over the repeats of each setup and load."""
    print(
        "\nRedis calls per message (INFO commandstats summed over the masters; the driver's "
        "xadd and xread included, commands run by Lua scripts counted under their own names):"
    )
    for setup, load, chosen, messages in _pooled(runs):
        calls: Counter[str] = Counter()
        for r in chosen:
            calls.update(r.calls)
        trips = sum(calls.get(c, 0) for c in GATEWAY_TRIPS) / messages
        shown = ", ".join(
            f"{c} {n / messages:.3f}" for c, n in calls.most_common() if n / messages >= 0.001
        )
        print(
            f"  {setup}, {load}: all {sum(calls.values()) / messages:.1f}/msg; gateway round "
            f"trips {trips:.3f}/msg; {shown}"
        )


def _pooled(runs: Sequence[Run]) -> Iterator[tuple[str, str, list[Run], int]]:
    """Each setup and load that has runs, with those runs and their messages in all."""
    for setup, load in ((s, ld) for ld in (PACED, SATURATED) for s in SETUPS):
        chosen = [r for r in runs if r.setup == setup and r.load == load]
        if chosen:
            yield setup, load, chosen, sum(r.messages for r in chosen)


def print_stage_cpu(runs: Sequence[Run]) -> None:
    """The engine's CPU per message by stage, pooled like the calls."""
    print("\ngateway CPU us/msg by stage (both instances; the rest is client, I/O, loop):")
    for setup, load, chosen, messages in _pooled([r for r in runs if r.stage_cpu]):
        stages: Counter[str] = Counter()
        for r in chosen:
            stages.update(r.stage_cpu)
        shown = ", ".join(f"{k} {1e6 * v / messages:.0f}" for k, v in stages.items())
        total = sum(r.cpu_seconds.get("gateway", 0.0) for r in chosen)
        print(
            f"  {setup}, {load}: {shown}; staged {1e6 * sum(stages.values()) / messages:.0f} "
            f"of {1e6 * total / messages:.0f}"
        )


def _median(runs: Sequence[Run], setup: str, load: str, value: str) -> float:
    """The median over the repeats of a Run property, or of a process group's CPU/msg."""
    values = [
        getattr(r, value) if value in _PROPERTIES else r.per_message_ms(value)
        for r in runs
        if r.setup == setup and r.load == load
    ]
    return statistics.median(values) if values else float("nan")


_PROPERTIES = ("rate", "p50", "p99", "accept_p50", "machine_ms")


def print_overhead(runs: Sequence[Run]) -> None:
    """Each cluster against the single server like it but for cluster mode, judged against
    the bar: without replicas against the bare server, with replicas against the server with
    one (every write is also applied on a replica); then the cluster with replicas against the
    bare server, for the record (replication on one side only: not cluster mode's cost)."""
    for cluster, baseline in LIKE_FOR_LIKE:
        if _ran(runs, cluster) and _ran(runs, baseline):
            _print_overhead_against(runs, cluster, baseline, judged=True)
    if _ran(runs, CLUSTER) and _ran(runs, SINGLE):
        _print_overhead_against(runs, CLUSTER, SINGLE, judged=False)
    print(
        "  (the saturated figures share 2 cores between 2 gateways, the simulator, the driver "
        "and 1, 2, 3 or 6 redis-servers: their throughput follows gateway + Redis CPU per message)"
    )


def _ran(runs: Sequence[Run], setup: str) -> bool:
    return any(r.setup == setup for r in runs)


def _print_overhead_against(
    runs: Sequence[Run], cluster: str, baseline: str, *, judged: bool
) -> None:
    """`cluster` against `baseline`: the barred figures (a verdict when `judged`), then the
    others."""
    count = sum(1 for r in runs if r.setup == cluster and r.load == PACED)
    rate = _median(runs, baseline, PACED, "rate")
    heading = (
        f"bar: cluster mode costs <= {OVERHEAD_BAR:.0f}% against single Redis at the same load"
        if judged
        else "not judged: the cluster's replicas cost here too, which no single server pays"
    )
    print(f"\n{cluster} against {baseline} (medians of {count} run(s) each); {heading}")
    for label, load, value in (
        (f"gateway + Redis CPU per message at {rate:,.0f}/s", PACED, "machine_ms"),
        (f"gateway CPU per message at {rate:,.0f}/s", PACED, "gateway"),
        ("throughput at saturation", SATURATED, "rate"),
    ):
        _verdict(label, runs, cluster, baseline, load, value, judged=judged)
    for label, load, value in (
        ("gateway CPU per message at saturation", SATURATED, "gateway"),
        ("gateway + Redis CPU per message at saturation", SATURATED, "machine_ms"),
        (f"Redis CPU per message at {rate:,.0f}/s, all processes", PACED, "redis"),
        ("Redis CPU per message at saturation, all processes", SATURATED, "redis"),
    ):
        single = _median(runs, baseline, load, value)
        clustered = _median(runs, cluster, load, value)
        change = 100 * (clustered - single) / single if single > 0 else float("nan")
        print(f"  {label}: {single:.3f} -> {clustered:.3f} ms: {change:+.1f}%")
    for label, value in (("XADD->accepted p50", "accept_p50"), ("XADD->submitted p50", "p50"),
                         ("XADD->submitted p99", "p99")):  # fmt: skip
        single = _median(runs, baseline, PACED, value)
        clustered = _median(runs, cluster, PACED, value)
        print(
            f"  {label} at {rate:,.0f}/s: {single:.1f} -> {clustered:.1f} ms "
            f"({clustered - single:+.1f} ms; event times are whole ms)"
        )


def _verdict(
    label: str, runs: Sequence[Run], cluster: str, baseline: str, load: str, value: str,
    *, judged: bool,
) -> None:  # fmt: skip
    """One barred figure: CPU per message (more is worse) or msgs/s (less is worse)."""
    single, clustered = _median(runs, baseline, load, value), _median(runs, cluster, load, value)
    is_rate = value == "rate"
    cost = 100 * ((single - clustered) if is_rate else (clustered - single)) / single
    verdict = ("PASS" if cost <= OVERHEAD_BAR else "FAIL") if judged else "not judged"
    shown = (
        f"{single:,.0f} -> {clustered:,.0f} msgs/s"
        if is_rate
        else f"{single:.3f} -> {clustered:.3f} ms"
    )
    print(f"  {label}: {shown}: cluster costs {cost:+.1f}%: {verdict}")


def print_integrity(runs: Sequence[Run]) -> bool:
    """Lost and duplicated messages over every run; True when there are none."""
    lost, dups = sum(r.lost for r in runs), sum(r.duplicates for r in runs)
    messages = sum(r.messages for r in runs)
    print(f"\nlost messages: {lost}, duplicates: {dups} (of {messages:,} measured messages)")
    return lost == 0 and dups == 0
