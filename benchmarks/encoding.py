"""Benchmark: encode + segment throughput of compliance.segment.encode_message.

Mixed real-world texts in five categories, generated from a fixed seed: short GSM-7, exactly
160-character GSM-7 (the one-core bar: at least 100,000 messages/s), long GSM-7 (3 parts),
extension-heavy GSM-7 (braces, euro, brackets), and UCS-2 with emoji (2 parts); then all of
them shuffled together. For each it prints messages/s over the whole set (best of a few rounds)
and the p50/p99 latency of single calls.

    .venv/bin/python -m benchmarks.encoding [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from compliance.encoding import EncodingProfile
from compliance.segment import encode_message

SEED = 20240611
_VOCABULARY = (
    "your code is valid for minutes please do not share it with anyone order has been shipped "
    "and will arrive tomorrow between reply STOP to opt out appointment confirmed at the clinic "
    "thanks for shopping with us balance account payment received delivery driver is on the way"
)
WORDS = tuple(_VOCABULARY.split())
EXTENSION = "{}[]~^|\\€"
EMOJI = "😀🎉👍🚚❤️✅📦🙏"


def _sentence(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(WORDS))
    text = " ".join(words).capitalize()
    return (text + " " * length)[:length]


def _short_gsm(rng: random.Random) -> str:
    return f"Your code is {rng.randrange(10**6):06d}. " + _sentence(rng, rng.randrange(10, 60))


def _gsm_160(rng: random.Random) -> str:
    return _sentence(rng, 160)


def _long_gsm(rng: random.Random) -> str:
    return _sentence(rng, rng.randrange(320, 450))


def _extension_heavy(rng: random.Random) -> str:
    chars = list(_sentence(rng, 140))
    for _ in range(10):
        chars[rng.randrange(len(chars))] = rng.choice(EXTENSION)
    return "".join(chars)


def _ucs2_emoji(rng: random.Random) -> str:
    text = _sentence(rng, rng.randrange(70, 120))
    cut = rng.randrange(len(text))
    return text[:cut] + rng.choice(EMOJI) + text[cut:] + rng.choice(EMOJI)


CATEGORIES: dict[str, Callable[[random.Random], str]] = {
    "short GSM-7": _short_gsm,
    "160-char GSM-7": _gsm_160,
    "long GSM-7 (3 parts)": _long_gsm,
    "extension-heavy GSM-7": _extension_heavy,
    "UCS-2 with emoji": _ucs2_emoji,
}


def _throughput(texts: list[str], profile: EncodingProfile, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for text in texts:
            encode_message(text, profile, reference=42)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def _latencies_us(texts: list[str], profile: EncodingProfile) -> tuple[float, float]:
    samples: list[float] = []
    clock = time.perf_counter_ns
    for text in texts[:5000]:
        start = clock()
        encode_message(text, profile, reference=42)
        samples.append((clock() - start) / 1000)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def main() -> None:
    """Run every category and the mix; print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="texts per category")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; the best counts")
    args = parser.parse_args()
    rng = random.Random(SEED)
    profile = EncodingProfile()
    sets = {name: [make(rng) for _ in range(args.messages)] for name, make in CATEGORIES.items()}
    mix = [text for texts in sets.values() for text in texts]
    rng.shuffle(mix)
    sets["mix (all categories)"] = mix
    print(f"encode_message, default profile, {args.messages} texts per category, seed {SEED}")
    for name, texts in sets.items():
        encode_message(texts[0], profile, reference=42)  # warm the codec caches
        rate = _throughput(texts, profile, args.rounds)
        p50, p99 = _latencies_us(texts, profile)
        print(f"{name:24} {rate:>10,.0f} msgs/s   p50 {p50:6.2f} us   p99 {p99:6.2f} us")


if __name__ == "__main__":
    main()
