"""MO keyword classification: STOP / STOPALL / START / HELP and configured local words.

Only the first word counts; matching ignores case, surrounding whitespace, trailing
punctuation and accents (so "Arrêt." matches ARRET). Defaults follow the CTIA / provider lists
(domain.md §4: Twilio, AWS, Braze); local words such as ARRET (FR, CA) come from config.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from compliance.verdict import MoAction

_TRAILING_PUNCTUATION = ".,;:!?¡¿'\"()[]"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeywordSettings:
    """Keyword lists as written under `keywords:` in compliance.yaml."""

    opt_out: tuple[str, ...]
    opt_out_all: tuple[str, ...]
    opt_in: tuple[str, ...]
    help: tuple[str, ...]


class KeywordTable:
    """A normalised word -> action table built once from settings."""

    def __init__(self, settings: KeywordSettings) -> None:
        """Build the table; a word listed under two actions keeps the first (opt-out wins)."""
        self._actions: dict[str, MoAction] = {}
        self._add(settings.opt_out_all, MoAction.opt_out_all)
        self._add(settings.opt_out, MoAction.opt_out)
        self._add(settings.opt_in, MoAction.opt_in)
        self._add(settings.help, MoAction.help)

    def _add(self, words: Iterable[str], action: MoAction) -> None:
        for word in words:
            self._actions.setdefault(normalise_word(word), action)

    def classify(self, text: str) -> tuple[MoAction, str | None]:
        """The action the MO text's first word asks for, and that normalised word."""
        word = first_word(text)
        if word is None:
            return MoAction.none, None
        action = self._actions.get(word, MoAction.none)
        return action, (word if action is not MoAction.none else None)


def first_word(text: str) -> str | None:
    """The normalised first word of `text`, or None when it has none."""
    parts = text.split(maxsplit=1)
    if not parts:
        return None
    word = normalise_word(parts[0])
    return word or None


def normalise_word(word: str) -> str:
    """Upper-case, without accents or trailing punctuation: "Arrêt!" -> "ARRET"."""
    decomposed = unicodedata.normalize("NFKD", word.strip().strip(_TRAILING_PUNCTUATION))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
