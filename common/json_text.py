"""JSON text on the engine's hot paths, from encoders built once.

`json.dumps` with any option builds a `JSONEncoder` for each call, which is about a third of
encoding a small event; these encoders give the same text (same options) without that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

compact: Final[Callable[[Any], str]] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":")
).encode
"""`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`."""

compact_ascii: Final[Callable[[Any], str]] = json.JSONEncoder(separators=(",", ":")).encode
"""`json.dumps(value, separators=(",", ":"))`: non-ASCII text escaped."""
