"""`smsgw run` start-up: the cyclic GC tuning (gateway/cli.py)."""

from __future__ import annotations

import gc

import pytest

from gateway import cli


def test_tune_gc_freezes_startup_objects_and_raises_gen0_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "get_threshold", lambda: (700, 10, 10))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(t))
    cli.tune_gc()
    assert calls == ["freeze", (cli.GC_GEN0_THRESHOLD, 10, 10)]
