"""RedisOutages: one line as an outage starts, one as it ends, per shard."""

from __future__ import annotations

from structlog.testing import capture_logs

from common.redis_outage import RedisOutages
from gateway.errors import QueueUnavailableError

DOWN = QueueUnavailableError("redis unavailable: Connection refused")


def test_many_failures_make_one_line_and_the_first_success_another() -> None:
    now = [100.0]
    outages = RedisOutages(clock=lambda: now[0])
    with capture_logs() as logs:
        outages.failed(0, "ingest", DOWN)
        for _ in range(50):
            outages.failed(0, "pipeline", DOWN, count=3)
        outages.succeeded(1)  # another shard's success ends nothing
        assert outages.down() == [0]
        now[0] = 104.5
        outages.succeeded(0)
        outages.succeeded(0)
    lines = [(e["event"], e["log_level"]) for e in logs if e["log_level"] != "debug"]
    assert lines == [("redis_unavailable", "warning"), ("redis_available", "warning")]
    ended = logs[-1]
    assert (ended["shard"], ended["down_seconds"], ended["failures"]) == (0, 4.5, 151)
    assert outages.down() == []


def test_each_shard_has_its_own_outage() -> None:
    outages = RedisOutages()
    with capture_logs() as logs:
        outages.failed(2, "ingest-2", DOWN)
        outages.failed(0, "ingest-0", DOWN)
        outages.failed(2, "reclaim-2", DOWN)
        outages.succeeded(2)
    started = [(e["event"], e["shard"]) for e in logs if e["log_level"] != "debug"]
    assert started == [("redis_unavailable", 2), ("redis_unavailable", 0), ("redis_available", 2)]
    assert outages.down() == [0]
