"""Codec throughput: smsgw's sans-IO codec against smpplib, same PDUs, same run, one core.

For submit_sm, submit_sm_resp and deliver_sm (a delivery receipt with receipted_message_id and
message_state TLVs and the Appendix B receipt text) it measures:

- build+encode: field values -> PDU object -> bytes (`encode_pdu(SubmitSm(...))` against
  `make_pdu(...).generate()`), what a sender does per message; the 10x bar applies here;
- encode only: bytes from an already built object (`encode_pdu(p)` against `p.generate()`);
- decode: bytes -> PDU object (`decode_pdu(b)` against `smpplib.smpp.parse_pdu(b)`).

Inputs are 1,000 distinct PDUs per type from a fixed seed; each cell is the best of 15 passes,
interleaved between the two codecs.
Run: `.venv/bin/python -m benchmarks.codec` (about 20 s).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import smpplib.smpp

from gateway.smpp.codec import decode_pdu, encode_pdu
from gateway.smpp.constants import TlvTag
from gateway.smpp.pdu import DeliverSm, SubmitSm, SubmitSmResp

SEED = 20240611
COUNT = 1_000
PASSES = 15
BAR = 10.0
CLASSES: dict[str, type[SubmitSm | SubmitSmResp | DeliverSm]] = {
    "submit_sm": SubmitSm,
    "submit_sm_resp": SubmitSmResp,
    "deliver_sm": DeliverSm,
}


class _Client:
    """The minimum smpplib wants from a client: a sequence counter."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def _msisdn(rng: random.Random) -> str:
    return "44" + "".join(rng.choice("0123456789") for _ in range(10))


def _text(rng: random.Random, size: int) -> bytes:
    words = ["hello", "your", "code", "is", "delivery", "today", "thanks", "ok", "order", "at"]
    out = " ".join(rng.choice(words) for _ in range(size // 4))
    return out.encode()[:size]


def submit_sm_fields(rng: random.Random, seq: int) -> dict[str, Any]:
    return {
        "sequence_number": seq,
        "source_addr_ton": 5,
        "source_addr_npi": 0,
        "source_addr": rng.choice(["ACME", "Shop", "Bank Alert"]),
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": _msisdn(rng),
        "registered_delivery": 1,
        "data_coding": 0,
        "short_message": _text(rng, rng.randint(20, 160)),
    }


def submit_sm_resp_fields(rng: random.Random, seq: int) -> dict[str, Any]:
    return {"sequence_number": seq, "message_id": f"{rng.getrandbits(64):016x}"}


def deliver_sm_fields(rng: random.Random, seq: int) -> dict[str, Any]:
    message_id = str(rng.randrange(10**9, 10**10))
    receipt = (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2406111200 done date:2406111201 "
        "stat:DELIVRD err:000 text:Your code is 1234"
    ).encode()
    return {
        "sequence_number": seq,
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": _msisdn(rng),
        "dest_addr_ton": 5,
        "dest_addr_npi": 0,
        "destination_addr": "ACME",
        "esm_class": 0x04,
        "short_message": receipt,
        "receipted_message_id": message_id,
        "message_state": 2,
    }


def ours_kwargs(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for our dataclass (receipt TLVs go into `tlvs`)."""
    fields = dict(fields)
    if kind == "deliver_sm":
        fields["tlvs"] = {  # smpplib writes these two in this order
            TlvTag.message_state: fields.pop("message_state"),
            TlvTag.receipted_message_id: fields.pop("receipted_message_id"),
        }
    return fields


def smpplib_build(kind: str, fields: dict[str, Any], client: _Client) -> Any:
    pdu = smpplib.smpp.make_pdu(kind, client=client, **fields)
    pdu.sequence = fields["sequence"]  # smpplib quirk: the `sequence` keyword is not applied
    return pdu


def rates(
    ours: Callable[[Any], object],
    ours_items: Sequence[Any],
    theirs: Callable[[Any], object],
    their_items: Sequence[Any],
) -> tuple[float, float]:
    """Operations per second for both sides, best of PASSES, passes interleaved so that a
    slow moment of the machine hits both sides alike."""
    best = [float("inf"), float("inf")]
    for _ in range(PASSES):
        for side, (func, items) in enumerate(((ours, ours_items), (theirs, their_items))):
            start = time.perf_counter()
            for item in items:
                func(item)
            best[side] = min(best[side], time.perf_counter() - start)
    return len(ours_items) / best[0], len(their_items) / best[1]


Row = tuple[str, str, float, float]  # PDU, operation, ours/s, smpplib's/s


def bench_kind(kind: str, make: Callable[[random.Random, int], dict[str, Any]]) -> list[Row]:
    rng = random.Random(f"{SEED}-{kind}")
    client = _Client()
    cls = CLASSES[kind]
    fields = [make(rng, seq) for seq in range(1, COUNT + 1)]
    our_fields = [ours_kwargs(kind, f) for f in fields]
    their_fields: list[dict[str, Any]] = []
    for f in fields:
        their_kwargs = dict(f)
        their_kwargs["sequence"] = their_kwargs.pop("sequence_number")
        their_fields.append(their_kwargs)
    ours = [cls(**f) for f in our_fields]
    theirs = [smpplib_build(kind, f, client) for f in their_fields]
    frames = [encode_pdu(p) for p in ours]
    assert [t.generate() for t in theirs] == frames, f"{kind}: encodings differ"
    assert [decode_pdu(b) for b in frames] == ours, f"{kind}: round trip differs"
    return [
        (
            kind,
            "build+encode",
            *rates(
                lambda f: encode_pdu(cls(**f)),
                our_fields,
                lambda f: smpplib_build(kind, f, client).generate(),
                their_fields,
            ),
        ),
        (kind, "encode only", *rates(encode_pdu, ours, lambda t: t.generate(), theirs)),
        (
            kind,
            "decode",
            *rates(decode_pdu, frames, lambda b: smpplib.smpp.parse_pdu(b, client=client), frames),
        ),
    ]


def main() -> None:
    rows = []
    rows += bench_kind("submit_sm", submit_sm_fields)
    rows += bench_kind("submit_sm_resp", submit_sm_resp_fields)
    rows += bench_kind("deliver_sm", deliver_sm_fields)
    print(f"{'PDU':<15} {'operation':<13} {'smsgw PDU/s':>12} {'smpplib PDU/s':>14} {'ratio':>7}")
    print("-" * 65)
    for kind, op, ours, theirs in rows:
        ratio = ours / theirs
        flag = "" if op == "encode only" or ratio >= BAR else "  < 10x bar"
        print(f"{kind:<15} {op:<13} {ours:>12,.0f} {theirs:>14,.0f} {ratio:>6.1f}x{flag}")
    print(f"\n{COUNT} distinct PDUs per type, seed {SEED}, best of {PASSES} interleaved passes.")
    print("The 10x bar applies to build+encode and decode; 'encode only' is shown for reference.")


if __name__ == "__main__":
    main()
