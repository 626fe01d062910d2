"""The GSM 03.38 tables against 3GPP TS 23.038: the default tables in full, national ones sampled.

Expected values are typed from the spec's printed tables (§6.2.1, §6.2.1.1, Annex A), not
from the tables under test. The cells where open-source transcriptions disagree (Indic 0x2C,
Kannada 0x24, Tamil single 0x24, Telugu single 0x22 and 0x65) are all sampled.
"""

from __future__ import annotations

import pytest

from compliance.encoding.gsm7 import ESC, gsm7_codec
from compliance.encoding.locking_tables import LOCKING_TABLES
from compliance.encoding.model import LOCKING_SHIFT_LANGUAGES, NationalLanguage
from compliance.encoding.shift_tables import SINGLE_SHIFT_TABLES

# TS 23.038 §6.2.1, read row by row down each column, ESC at 0x1B.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 §6.2.1.1.
DEFAULT_EXTENSION = {
    0x0A: "\x0c",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# (language id, code, character or None for a cell the spec leaves empty), Annex A.3.
LOCKING_CELLS = [
    (1, 0x04, "€"),
    (1, 0x07, "\u0131"),
    (1, 0x0B, "\u011e"),
    (1, 0x0C, "\u011f"),
    (1, 0x1C, "\u015e"),
    (1, 0x1D, "\u015f"),
    (1, 0x40, "\u0130"),
    (1, 0x60, "ç"),
    (3, 0x04, "ê"),
    (3, 0x12, "ª"),
    (3, 0x15, "\u221e"),
    (3, 0x16, "^"),
    (3, 0x17, "\\"),
    (3, 0x18, "€"),
    (3, 0x1A, "|"),
    (3, 0x24, "º"),
    (3, 0x40, "Í"),
    (3, 0x5B, "Ã"),
    (3, 0x60, "~"),
    (3, 0x7D, "`"),
    (4, 0x00, "\u0981"),
    (4, 0x0C, None),
    (4, 0x2C, ","),
    (4, 0x40, "\u09ac"),
    (4, 0x7B, "\u09d7"),
    (5, 0x0C, "\u0a8d"),
    (5, 0x10, "\u0a90"),
    (5, 0x2C, ","),
    (5, 0x7F, "\u0af1"),
    (6, 0x0E, "\u090e"),
    (6, 0x3C, "\u0929"),
    (6, 0x60, "\u0950"),
    (6, 0x7F, "\u097f"),
    (7, 0x00, None),
    (7, 0x24, "\u0ca1"),  # printed as 0CAA, a duplicate of 0x3D (AOSP erratum)
    (7, 0x3D, "\u0caa"),
    (7, 0x60, "\u0cd5"),
    (8, 0x4E, None),
    (8, 0x4F, "\u0d3d"),
    (8, 0x60, "\u0d57"),
    (8, 0x7F, "\u0d79"),
    (9, 0x60, "\u0b56"),
    (9, 0x7B, "\u0b57"),
    (10, 0x09, None),
    (10, 0x60, "\u0a51"),
    (10, 0x7F, "\u0a74"),
    (11, 0x00, None),
    (11, 0x3C, "\u0ba9"),
    (11, 0x7F, "\u0bf9"),
    (12, 0x10, "\u0c10"),
    (12, 0x60, "\u0c55"),
    (13, 0x00, "\u0627"),
    (13, 0x01, "\u0622"),
    (13, 0x2C, ","),
    (13, 0x60, "\u0654"),
    (13, 0x7F, "\u0670"),
]

# (language id, code after ESC, character or None), Annex A.2.
SINGLE_SHIFT_CELLS = [
    (1, 0x47, "\u011e"),
    (1, 0x49, "\u0130"),
    (1, 0x53, "\u015e"),
    (1, 0x63, "ç"),
    (1, 0x65, "€"),
    (1, 0x67, "\u011f"),
    (1, 0x69, "\u0131"),
    (1, 0x73, "\u015f"),
    (2, 0x09, "ç"),
    (2, 0x41, "Á"),
    (2, 0x49, "Í"),
    (2, 0x4F, "Ó"),
    (2, 0x55, "Ú"),
    (2, 0x61, "á"),
    (2, 0x69, "í"),
    (2, 0x6F, "ó"),
    (2, 0x75, "ú"),
    (3, 0x05, "ê"),
    (3, 0x0B, "Ô"),
    (3, 0x0C, "ô"),
    (3, 0x0E, "Á"),
    (3, 0x0F, "á"),
    (3, 0x12, "Φ"),
    (3, 0x1F, "Ê"),
    (3, 0x41, "À"),
    (3, 0x5B, "Ã"),
    (3, 0x7F, "â"),
    (4, 0x00, "@"),
    (4, 0x19, "\u09e6"),
    (4, 0x24, "\u09df"),
    (4, 0x41, "A"),
    (4, 0x65, "€"),
    (5, 0x19, "\u0964"),
    (5, 0x1C, "\u0ae6"),
    (5, 0x25, "\u0aef"),
    (6, 0x26, "\u0951"),
    (6, 0x2C, "\u0958"),
    (6, 0x30, "\u095b"),
    (6, 0x3A, "\u0971"),
    (7, 0x26, "\u0cde"),
    (7, 0x27, "\u0cf1"),
    (7, 0x2A, "\u0cf2"),
    (8, 0x26, "\u0d70"),
    (8, 0x34, "\u0d7f"),
    (9, 0x26, "\u0b5c"),
    (9, 0x2A, "\u0b5f"),
    (9, 0x2C, "\u0b71"),
    (10, 0x26, "\u0a59"),
    (10, 0x2C, "\u0a5e"),
    (10, 0x2D, "\u0a75"),
    (11, 0x24, "\u0bee"),  # printed as 0BEF, a duplicate of 0x25 (AOSP erratum)
    (11, 0x26, "\u0bf3"),
    (11, 0x2E, "\u0bfa"),
    (12, 0x19, None),
    (12, 0x1C, "\u0c66"),
    (12, 0x22, "\u0c6c"),  # printed as 06CC, an Urdu code point (AOSP erratum)
    (12, 0x30, "\u0c7d"),
    (12, 0x65, "€"),  # absent from the V18 transcription only
    (13, 0x19, "\u0600"),
    (13, 0x1A, "\u0601"),
    (13, 0x3B, "\u06cd"),
    (13, 0x3F, "\u06d4"),
]


def test_default_alphabet_matches_the_spec_cell_by_cell() -> None:
    assert LOCKING_TABLES[0] == DEFAULT_ALPHABET


def test_default_extension_table_matches_the_spec() -> None:
    assert dict(SINGLE_SHIFT_TABLES[0]) == DEFAULT_EXTENSION


def test_every_language_has_its_tables_and_spanish_has_no_locking_table() -> None:
    assert set(SINGLE_SHIFT_TABLES) == {0} | {int(lang) for lang in NationalLanguage}
    assert set(LOCKING_TABLES) == {0} | {int(lang) for lang in LOCKING_SHIFT_LANGUAGES}
    assert int(NationalLanguage.spanish) not in LOCKING_TABLES


@pytest.mark.parametrize(("language", "code", "expected"), LOCKING_CELLS)
def test_locking_shift_cell(language: int, code: int, expected: str | None) -> None:
    cell = LOCKING_TABLES[language][code]
    assert cell == (expected if expected is not None else "\x00")
    codec = gsm7_codec(language, 0)
    if expected is None:
        assert codec.decode(bytes((code,))) == "\ufffd"
    else:
        assert codec.encode(expected) == bytes((code,))
        assert codec.decode(bytes((code,))) == expected


@pytest.mark.parametrize(("language", "code", "expected"), SINGLE_SHIFT_CELLS)
def test_single_shift_cell(language: int, code: int, expected: str | None) -> None:
    assert SINGLE_SHIFT_TABLES[language].get(code) == expected
    codec = gsm7_codec(0, language)
    shown = codec.decode(bytes((ESC, code)))
    if expected is None:  # TS 23.038 §6.2.1.1: fall back to the main table's character
        assert shown == LOCKING_TABLES[0][code]
    else:
        assert shown == expected
        if expected not in LOCKING_TABLES[0]:
            assert codec.encode(expected) == bytes((ESC, code))


@pytest.mark.parametrize("language", sorted(LOCKING_TABLES))
def test_locking_tables_share_the_control_and_digit_cells(language: int) -> None:
    table = LOCKING_TABLES[language]
    assert len(table) == 128
    assert (table[0x0A], table[0x0D], table[0x1B], table[0x20]) == ("\n", "\r", "\x1b", " ")
    assert table[0x30:0x3A] == "0123456789"
    defined = [char for char in table if char not in "\x00\x1b"]
    assert len(defined) == len(set(defined)), "a character appears twice"


@pytest.mark.parametrize("language", range(4, 14))
def test_indic_and_urdu_tables_keep_latin_letters_where_the_spec_puts_them(
    language: int,
) -> None:
    locking, single = LOCKING_TABLES[language], SINGLE_SHIFT_TABLES[language]
    assert locking[0x61:0x7B] == "abcdefghijklmnopqrstuvwxyz"
    assert "".join(single[code] for code in range(0x41, 0x5B)) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert single[0x65] == "€"
    assert (single[0x28], single[0x29], single[0x3C], single[0x3E], single[0x40]) == tuple("{}[]|")


def test_no_single_shift_table_uses_the_escape_code() -> None:
    assert all(ESC not in table for table in SINGLE_SHIFT_TABLES.values())
