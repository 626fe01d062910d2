"""MO keywords: first word only, case-, accent-, punctuation- and whitespace-insensitive."""

from __future__ import annotations

import pytest

from compliance.keywords import KeywordSettings, KeywordTable, first_word
from compliance.verdict import MoAction

TABLE = KeywordTable(
    KeywordSettings(
        opt_out=("STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ARRET"),
        opt_out_all=("STOPALL",),
        opt_in=("START", "UNSTOP", "YES"),
        help=("HELP", "INFO"),
    )
)


@pytest.mark.parametrize(
    ("text", "action", "word"),
    [
        ("STOP", MoAction.opt_out, "STOP"),
        ("stop", MoAction.opt_out, "STOP"),
        ("  Stop  ", MoAction.opt_out, "STOP"),
        ("Stop.", MoAction.opt_out, "STOP"),
        ("STOP please stop texting me", MoAction.opt_out, "STOP"),
        ("Arrêt", MoAction.opt_out, "ARRET"),
        ("unsubscribe!", MoAction.opt_out, "UNSUBSCRIBE"),
        ("STOPALL", MoAction.opt_out_all, "STOPALL"),
        ("start", MoAction.opt_in, "START"),
        ("Yes", MoAction.opt_in, "YES"),
        ("help", MoAction.help, "HELP"),
        ("please stop", MoAction.none, None),  # first word only
        ("STOPPING", MoAction.none, None),
        ("", MoAction.none, None),
        ("   ", MoAction.none, None),
        ("\tEND\n", MoAction.opt_out, "END"),
    ],
)
def test_classify(text: str, action: MoAction, word: str | None) -> None:
    assert TABLE.classify(text) == (action, word)


def test_first_word_of_only_punctuation_is_none() -> None:
    assert first_word("!!!") is None


def test_word_listed_twice_keeps_the_opt_out_meaning() -> None:
    table = KeywordTable(
        KeywordSettings(opt_out=("END",), opt_out_all=(), opt_in=("END",), help=())
    )
    assert table.classify("end") == (MoAction.opt_out, "END")
