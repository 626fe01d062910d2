"""Receipt parsing and id matching: the real-world variants carriers send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from compliance.encoding import EncodingProfile
from compliance.encoding.gsm7 import gsm7_codec, pack_septets
from gateway.carrier.receipts import (
    _APPENDIX_B,
    IdMode,
    Receipt,
    ReceiptState,
    _field_values,
    _int_or_none,
    _network_error,
    _receipt,
    _receipt_date,
    _regex_fields,
    _standard_fields,
    _state,
    _text_fields,
    candidate_ids,
    canonical_id,
    is_receipt,
    parse_receipt,
    parse_receipt_date,
    receipt_id_candidates,
    receipt_text,
)
from gateway.smpp.constants import EsmClass, MessageState, TlvTag
from gateway.smpp.pdu import DataSm, DeliverSm

APPENDIX_B = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2612020930 done date:2612020931 "
    "stat:DELIVRD err:000 text:Hello world"
)


def receipt_pdu(text: str, **tlvs: int | str | bytes) -> DeliverSm:
    tags: dict[int, int | str | bytes] = {TlvTag[name]: value for name, value in tlvs.items()}
    return DeliverSm(
        esm_class=EsmClass.smsc_delivery_receipt, short_message=text.encode(), tlvs=tags
    )


def test_appendix_b_receipt_is_parsed_field_by_field() -> None:
    receipt = parse_receipt(receipt_pdu(APPENDIX_B))
    assert receipt is not None
    assert receipt.ids == ("0123456789",)
    assert receipt.state is ReceiptState.delivered
    assert receipt.final
    assert receipt.error_code == "000"
    assert (receipt.submitted, receipt.delivered) == (1, 1)
    assert receipt.done_date == dt.datetime(2026, 12, 2, 9, 31, tzinfo=dt.UTC)


def test_tlv_id_and_state_win_over_the_text() -> None:
    pdu = receipt_pdu(
        "id:255 sub:001 dlvrd:000 stat:DELIVRD err:000",
        receipted_message_id="ff",
        message_state=MessageState.UNDELIVERABLE,
    )
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert receipt.ids == ("ff", "255")
    assert receipt.state is ReceiptState.undelivered


@pytest.mark.parametrize(
    ("text", "state", "final"),
    [
        ("id:1 stat:delivrd", ReceiptState.delivered, True),
        ("ID:1 STAT:DELIVERED", ReceiptState.delivered, True),
        ("id:1 stat:UNDELIVERABLE err:011", ReceiptState.undelivered, True),
        ("id:1 stat:UNDELIV", ReceiptState.undelivered, True),
        ("id:1 stat:UNDELIVERED", ReceiptState.undelivered, True),
        ("id:1 stat:FAILED", ReceiptState.undelivered, True),
        ("id:1 stat:EXPIRED", ReceiptState.expired, True),
        ("id:1 stat:REJECTD", ReceiptState.rejected, True),
        ("id:1 stat:Rejected", ReceiptState.rejected, True),
        ("id:1 stat:DELETED", ReceiptState.deleted, True),
        ("id:1 stat:ENROUTE", ReceiptState.enroute, False),
        ("id:1 stat:EN_ROUTE", ReceiptState.enroute, False),
        ("id:1 stat:ACCEPTD", ReceiptState.accepted, False),
        ("id:1 stat:ACCEPTED", ReceiptState.accepted, False),
        ("id:1 stat:BUFFRED", ReceiptState.buffered, False),
        ("id:1 stat:buffered", ReceiptState.buffered, False),
        ("id:1 stat:SCHEDLD", ReceiptState.scheduled, False),
        ("id:1 stat:SCHEDULED", ReceiptState.scheduled, False),
        ("id:1 stat:UNKNOWN", ReceiptState.unknown, False),
        ("id:1 stat:SOMETHING", ReceiptState.unknown, False),
        ("id:1 stat:SKIPPED", ReceiptState.unknown, False),
        # whole words only: a word that merely starts like a final one is not final
        ("id:1 stat:DELIVERY_PENDING", ReceiptState.unknown, False),
        ("id:1 stat:EXPIRING", ReceiptState.unknown, False),
        ("id:1 stat:", ReceiptState.unknown, False),
        ("id:1", ReceiptState.unknown, False),
        # stray punctuation or a NUL around a known word does not hide it
        ("id:1 stat:DELIVRD, err:000", ReceiptState.delivered, True),
        ("id:1 stat:DELIVRD\x00", ReceiptState.delivered, True),
    ],
)
def test_stat_words_in_any_spelling_and_case(text: str, state: ReceiptState, final: bool) -> None:
    receipt = parse_receipt(receipt_pdu(text))
    assert receipt is not None
    assert (receipt.state, receipt.final) == (state, final)


def test_appendix_b_layout_with_an_intermediate_word_is_not_final() -> None:
    receipt = parse_receipt(receipt_pdu(APPENDIX_B.replace("stat:DELIVRD", "stat:BUFFRED")))
    assert receipt is not None
    assert (receipt.state, receipt.final) == (ReceiptState.buffered, False)


@pytest.mark.parametrize(
    ("value", "state", "final"),
    [
        (0, ReceiptState.scheduled, False),  # SMPP 5.0 SCHEDULED
        (MessageState.ENROUTE, ReceiptState.enroute, False),
        (MessageState.DELIVERED, ReceiptState.delivered, True),
        (MessageState.EXPIRED, ReceiptState.expired, True),
        (MessageState.DELETED, ReceiptState.deleted, True),
        (MessageState.UNDELIVERABLE, ReceiptState.undelivered, True),
        (MessageState.ACCEPTED, ReceiptState.accepted, False),
        (MessageState.UNKNOWN, ReceiptState.unknown, False),
        (MessageState.REJECTED, ReceiptState.rejected, True),
    ],
)
def test_every_message_state_value(value: int, state: ReceiptState, final: bool) -> None:
    pdu = DeliverSm(tlvs={TlvTag.receipted_message_id: "42", TlvTag.message_state: value})
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert (receipt.state, receipt.final) == (state, final)


@pytest.mark.parametrize(
    ("value", "stat", "state"),
    [
        # a defined message_state wins over the text, whichever way they disagree
        (MessageState.ENROUTE, "DELIVRD", ReceiptState.enroute),
        (MessageState.DELIVERED, "BUFFRED", ReceiptState.delivered),
        (MessageState.UNKNOWN, "DELIVRD", ReceiptState.unknown),
        (0, "UNDELIV", ReceiptState.scheduled),
        # an undefined one (SMPP 5.0 SKIPPED, vendor values) leaves it to the text
        (9, "DELIVRD", ReceiptState.delivered),
        (0x40, "BUFFRED", ReceiptState.buffered),
        (9, "SKIPPED", ReceiptState.unknown),
    ],
)
def test_message_state_tlv_wins_over_the_stat_word_when_defined(
    value: int, stat: str, state: ReceiptState
) -> None:
    pdu = receipt_pdu(f"id:7 stat:{stat} err:000", message_state=value)
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert receipt.state is state


def test_fields_in_another_order_with_seconds_in_dates() -> None:
    text = "stat:DELIVRD id:abc done date:261202093107 submit_date:261202093059 err:0"
    receipt = parse_receipt(receipt_pdu(text))
    assert receipt is not None
    assert receipt.ids == ("abc",)
    assert receipt.done_date == dt.datetime(2026, 12, 2, 9, 31, 7, tzinfo=dt.UTC)
    assert receipt.submit_date == dt.datetime(2026, 12, 2, 9, 30, 59, tzinfo=dt.UTC)


def test_text_field_is_not_read_for_keys() -> None:
    """Whatever the original message said ("stat:..." in its first 20 chars) is not a field."""
    receipt = parse_receipt(receipt_pdu("id:7 stat:DELIVRD err:000 text:stat:UNDELIV id:9"))
    assert receipt is not None
    assert receipt.ids == ("7",)
    assert receipt.state is ReceiptState.delivered


def test_network_error_code_tlv_gives_the_error_when_text_has_none() -> None:
    pdu = receipt_pdu("id:5 stat:UNDELIV", network_error_code=bytes((3, 0, 11)))
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert receipt.error_code == "011"


def test_message_payload_carries_the_receipt_text() -> None:
    pdu = DataSm(
        esm_class=EsmClass.smsc_delivery_receipt,
        tlvs={TlvTag.message_payload: b"id:77 stat:DELIVRD err:000"},
    )
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert receipt.ids == ("77",)


def test_mo_message_is_not_a_receipt_even_if_it_looks_like_one() -> None:
    assert parse_receipt(DeliverSm(short_message=b"id:1 stat:DELIVRD")) is None


def test_tlvs_alone_make_a_receipt_without_the_esm_class_bit() -> None:
    pdu = DeliverSm(
        tlvs={TlvTag.receipted_message_id: "42", TlvTag.message_state: MessageState.DELIVERED}
    )
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert (receipt.ids, receipt.state) == (("42",), ReceiptState.delivered)


def test_flagged_receipt_without_any_id_is_kept_as_unmatchable() -> None:
    receipt = parse_receipt(receipt_pdu("stat:DELIVRD"))
    assert receipt is not None
    assert receipt.ids == ("",)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "26120209",
        "2613020931",
        "abcdefghij",
        None,
        "2602300931",  # 30 February
        "2612022400",  # hour 24
        "2612020960",  # minute 60
        "261202093160",  # second 60
        "2600020931",  # month 00
        "2612000931",  # day 00
        "26120209311",  # 11 digits
        "261202093\u00b2",  # latin-1 superscript two: isdigit() but not a digit
    ],
)
def test_unparseable_dates_are_none(value: str | None) -> None:
    assert parse_receipt_date(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2612020931", dt.datetime(2026, 12, 2, 9, 31, tzinfo=dt.UTC)),
        ("240229235959", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)),
        ("6812310000", dt.datetime(2068, 12, 31, 0, 0, tzinfo=dt.UTC)),  # %y: 00-68 is 20YY
        ("6901010000", dt.datetime(1969, 1, 1, 0, 0, tzinfo=dt.UTC)),  # %y: 69-99 is 19YY
    ],
)
def test_dates_read_as_strptime_would(value: str, expected: dt.datetime) -> None:
    assert parse_receipt_date(value) == expected
    layout = "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
    assert expected == dt.datetime.strptime(value, layout).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("given", "canonical"), [("00123", "123"), (" AbC ", "abc"), ("000", "0"), ("", "")]
)
def test_canonical_id_folds_case_zeros_and_space(given: str, canonical: str) -> None:
    assert canonical_id(given) == canonical


def test_submit_ids_are_stored_as_given_and_canonical() -> None:
    assert candidate_ids("12345") == ("12345",)
    assert candidate_ids("00AB") == ("00AB", "ab")


@pytest.mark.parametrize(
    ("ids", "mode", "keys"),
    [
        (("00ab",), "exact", ("00ab",)),
        (("00AB",), "strip_zeros", ("ab",)),
        (("ff",), "hex_to_dec", ("255",)),
        (("255",), "dec_to_hex", ("ff",)),
        (("0255",), "auto", ("0255", "255")),
        (("1F",), "auto", ("1F", "1f", "31")),
        (("ff", "255"), "auto", ("ff", "255")),
    ],
)
def test_receipt_keys_per_mode_most_preferred_first(
    ids: tuple[str, ...], mode: IdMode, keys: tuple[str, ...]
) -> None:
    assert receipt_id_candidates(ids, mode=mode) == keys


def test_auto_never_converts_a_decimal_looking_id() -> None:
    """ "31" may be decimal or hex: converting it could match another message."""
    assert receipt_id_candidates("31", mode="auto") == ("31",)


@given(st.integers(min_value=0, max_value=2**64))
def test_hex_receipt_for_decimal_submit_matches_in_hex_to_dec_mode(number: int) -> None:
    stored = set(candidate_ids(str(number)))
    looked_up = receipt_id_candidates(format(number, "X"), mode="hex_to_dec")
    assert stored & set(looked_up)


@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=0, max_value=4))
def test_leading_zeros_and_case_always_match_in_auto_mode(number: int, zeros: int) -> None:
    submitted = format(number, "x")
    stored = set(candidate_ids(submitted))
    looked_up = receipt_id_candidates("0" * zeros + submitted.upper(), mode="auto")
    assert stored & set(looked_up)


# Values that the Appendix B fast path must read as the regex does, or hand to it: plain ones,
# and ones with spaces, other whitespace, colons, dashes, keys and "text:" inside them.
_RECEIPT_VALUE = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=12),
    st.text(alphabet="0aZ:- \t\xa0\x85é²_", max_size=8),
    st.sampled_from(["", "text:", "id:7", "text", "-text:x", "DELIVRD", "2612020930"]),
)
_RECEIPT_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")


@st.composite
def generated_receipt_text(draw: st.DrawFn) -> str:
    """Appendix B receipts: half exactly standard, half with the layout or values bent."""
    if draw(st.booleans()):
        values = [draw(st.text(alphabet="0189aZé²", min_size=1, max_size=12)) for _ in range(7)]
        tail = draw(st.sampled_from(["", " text:", " text:Hello world", " text:id:1 err:2"]))
        return " ".join(f"{k}:{v}" for k, v in zip(_RECEIPT_KEYS, values, strict=True)) + tail
    words = []
    for key in _RECEIPT_KEYS:
        spelt = draw(st.sampled_from([key, key, key.upper(), key.replace(" ", "_")]))
        sep = draw(st.sampled_from([":", ":", ": ", " :"]))
        words.append(f"{spelt}{sep}{draw(_RECEIPT_VALUE)}")
    tail = draw(st.sampled_from(["", " text:", " TEXT:", " ", " extra:1"]))
    text = " ".join(words) + tail + draw(st.text(alphabet="ab :\t", max_size=6))
    return draw(st.sampled_from(["", "", " ", "x"])) + text


@given(generated_receipt_text())
def test_appendix_b_fast_path_reads_what_the_regex_reads(text: str) -> None:
    assert _text_fields(text) == _regex_fields(text)


def test_standard_receipt_takes_the_fast_path() -> None:
    assert _standard_fields(APPENDIX_B) == _regex_fields(APPENDIX_B)
    assert _standard_fields(APPENDIX_B.replace("id:", "ID:")) is None


# Issue 13 item 3: what carriers put around and inside the text besides the Appendix B fields.

NO_TEXT = APPENDIX_B.removesuffix(" text:Hello world")


@pytest.mark.parametrize(
    "text",
    [
        NO_TEXT + "\x00",  # C-string terminator counted in sm_length
        NO_TEXT + "   ",
        NO_TEXT + "  \x00\x00",
        "stat:DELIVRD id:0123456789 err:000\x00",  # another order: the regex path
        "stat:DELIVRD id:0123456789 err:000\x00 text:x",
    ],
)
def test_trailing_nul_or_spaces_are_not_part_of_the_error_code(text: str) -> None:
    """Jasmin's DLR samples end `…err:000\\x00` (domain.md §1.13, [S6]): the NUL is the
    C-Octet String terminator (SMPP 3.4 §3.1), not a character of the code, so the code
    must read "000" like the same receipt without it."""
    receipt = parse_receipt(receipt_pdu(text))
    assert receipt is not None
    assert receipt.error_code == "000"
    assert receipt.message_id == "0123456789"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20110314181534", dt.datetime(2011, 3, 14, 18, 15, 34, tzinfo=dt.UTC)),
        ("19991231235959", dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
        ("202606141230", dt.datetime(2026, 6, 14, 12, 30, tzinfo=dt.UTC)),  # not YYMMDD: mon 26
    ],
)
def test_four_digit_year_dates_parse(value: str, expected: dt.datetime) -> None:
    """cloudhopper's DeliveryReceiptTest parses `submit date:20110314181534`
    (YYYYMMDDhhmmss, domain.md §1.13 [S8]); a 12-digit date that cannot be YYMMDDhhmmss
    is YYYYMMDDhhmm."""
    assert parse_receipt_date(value) == expected


def test_twelve_digit_date_fitting_both_layouts_is_read_nearest_the_receipt() -> None:
    """ "201103141815" is 2020-11-03 14:18:15 (YYMMDDhhmmss) or 2011-03-14 18:15
    (YYYYMMDDhhmm). A receipt reports a recent submit, so the reading nearer the time it
    arrived wins; without that time, YYMMDDhhmmss (the variant seen more, [S14a][S8])."""
    near_2011 = dt.datetime(2011, 3, 15, tzinfo=dt.UTC)
    near_2020 = dt.datetime(2020, 11, 4, tzinfo=dt.UTC)
    as_yyyy = dt.datetime(2011, 3, 14, 18, 15, tzinfo=dt.UTC)
    as_yy = dt.datetime(2020, 11, 3, 14, 18, 15, tzinfo=dt.UTC)
    assert parse_receipt_date("201103141815", near=near_2011) == as_yyyy
    assert parse_receipt_date("201103141815", near=near_2020) == as_yy
    assert parse_receipt_date("201103141815") == as_yy


def test_receipt_dates_with_four_digit_years_in_a_whole_receipt() -> None:
    text = NO_TEXT.replace("2612020930", "20261202093015").replace("2612020931", "202612020931")
    receipt = parse_receipt(
        receipt_pdu(text), now=dt.datetime(2026, 12, 2, tzinfo=dt.UTC).timestamp()
    )
    assert receipt is not None
    assert receipt.submit_date == dt.datetime(2026, 12, 2, 9, 30, 15, tzinfo=dt.UTC)
    assert receipt.done_date == dt.datetime(2026, 12, 2, 9, 31, tzinfo=dt.UTC)


@pytest.mark.parametrize("data_coding", [0x08, 0x18])
def test_ucs2_receipt_text_is_decoded_before_parsing(data_coding: int) -> None:
    """data_coding 8 is UCS-2 (SMPP 3.4 §5.2.19; 0x18 the TS 23.038 class-0 UCS-2 scheme
    SMSCs pass through): each ASCII character arrives as 00 xx, so the octets must be read
    as UTF-16BE before any `id:` or `stat:` can be found."""
    pdu = DeliverSm(
        esm_class=EsmClass.smsc_delivery_receipt,
        data_coding=data_coding,
        short_message=APPENDIX_B.encode("utf-16-be"),
    )
    receipt = parse_receipt(pdu)
    assert receipt is not None
    assert receipt.message_id == "0123456789"
    assert receipt.state is ReceiptState.delivered
    assert receipt.error_code == "000"


def test_packed_gsm7_receipt_from_a_packed_carrier_is_unpacked() -> None:
    """A carrier configured `gsm7_packed` delivers GSM-7 8-in-7 (TS 23.038 §6.1.2.1); its
    receipt octets are unpacked before parsing. An ASCII receipt from the same carrier is
    read as it is."""
    septets = gsm7_codec().encode(NO_TEXT)
    assert septets is not None
    packed = pack_septets(septets, max_septets=None)
    profile = EncodingProfile(gsm7_packed=True)
    pdu = DeliverSm(esm_class=EsmClass.smsc_delivery_receipt, short_message=packed)
    receipt = parse_receipt(pdu, profile=profile)
    assert receipt is not None
    assert (receipt.message_id, receipt.state, receipt.error_code) == (
        "0123456789",
        ReceiptState.delivered,
        "000",
    )
    ascii_receipt = parse_receipt(receipt_pdu(APPENDIX_B), profile=profile)
    assert ascii_receipt is not None
    assert ascii_receipt.state is ReceiptState.delivered


# --- the fast paths read what the general ones read ---------------------------------------------
# parse_receipt matches the usual Appendix B text with one regex (`_APPENDIX_B`), builds the
# Receipt by slot stores, reads its dates' `near` only when needed, and receipt_id_candidates
# has a one-id path. `general_receipt` and `general_candidates` are the general code as it was
# before those paths: every variant below must give the same receipt, keys or error.


def general_receipt(pdu: DeliverSm | DataSm, now: float | None) -> Receipt | None:
    """parse_receipt reading every text field by field (`_regex_fields`)."""
    if not is_receipt(pdu):
        return None
    payload = pdu.tlvs.get(TlvTag.message_payload)
    raw = payload if isinstance(payload, bytes) and payload else b""
    if not raw and isinstance(pdu, DeliverSm):
        raw = pdu.short_message
    fields = _regex_fields(receipt_text(raw, pdu.data_coding, EncodingProfile()))
    tlv_id = pdu.tlvs.get(TlvTag.receipted_message_id)
    ids = tuple(
        dict.fromkeys(
            value.strip()
            for value in (tlv_id if isinstance(tlv_id, str) else None, fields.get("id"))
            if value and value.strip()
        )
    )
    near = dt.datetime.fromtimestamp(now, dt.UTC) if now is not None else None
    return Receipt(
        ids=ids or ("",),
        state=_state(pdu, fields.get("stat")),
        error_code=fields.get("err") or _network_error(pdu),
        submitted=_int_or_none(fields.get("sub")),
        delivered=_int_or_none(fields.get("dlvrd")),
        submit_date=parse_receipt_date(fields.get("submit date"), near=near),
        done_date=parse_receipt_date(fields.get("done date"), near=near),
    )


def general_candidates(ids: tuple[str, ...], mode: IdMode) -> tuple[str, ...]:
    keys: list[str] = []
    for message_id in ids:
        canonical = canonical_id(message_id)
        is_hex = bool(canonical) and set(canonical) <= set("0123456789abcdef")
        if mode == "exact":
            keys.append(message_id)
        elif mode == "strip_zeros":
            keys.append(canonical)
        elif mode == "hex_to_dec":
            keys.append(str(int(canonical, 16)) if is_hex else canonical)
        elif mode == "dec_to_hex":
            keys.append(format(int(canonical), "x") if canonical.isdecimal() else canonical)
        else:
            keys += [message_id, canonical]
            if is_hex and not set(canonical) <= set("0123456789"):
                keys.append(str(int(canonical, 16)))
    return tuple(dict.fromkeys(keys))


def outcome(read: Callable[[], object]) -> object:
    """What `read()` returns, or the type of the ValueError it raises (a `sub:²` does)."""
    try:
        return read()
    except ValueError as error:
        return type(error)


_ID = st.one_of(
    st.integers(min_value=0, max_value=2**64).map(str),
    st.integers(min_value=0, max_value=2**64).map(lambda n: format(n, "x")),
    st.integers(min_value=0, max_value=2**64).map(lambda n: "00" + format(n, "X")),
    st.text(alphabet="0189afAF -x\t²", max_size=10),
)
_DATE = st.one_of(
    st.sampled_from(["2612020930", "261202093015", "20261202093015", "202612020931", ""]),
    st.sampled_from(["201103141815", "2613020930", "0002290000", "26120209", "2612O20930"]),
    st.text(alphabet="0123456789", min_size=9, max_size=15),
)
_STAT = st.sampled_from(
    ["DELIVRD", "delivrd", "UNDELIV", "EXPIRED", "REJECTD", "ENROUTE", "ACCEPTD", "BUFFRED",
     "UNKNOWN", "Delivered", "EN_ROUTE", "FAILED", "SOMETHING", "DELIVRD,", "42"]
)  # fmt: skip


@st.composite
def appendix_b_text(draw: st.DrawFn) -> str:
    """The usual layout with realistic values, now and then bent (case, spacing, a dash)."""
    values = [
        draw(_ID), draw(st.sampled_from(["001", "1", "000", "01a", "²"])),
        draw(st.sampled_from(["001", "000", "0", "x"])), draw(_DATE), draw(_DATE),
        draw(_STAT), draw(st.sampled_from(["000", "001", "0A", "027", "-1"])),
    ]  # fmt: skip
    keys = [draw(st.sampled_from([key] * 6 + [key.upper(), key.replace(" ", "_")]))
            for key in _RECEIPT_KEYS]  # fmt: skip
    space = draw(st.sampled_from([" "] * 8 + ["  ", "\t"]))
    tail = draw(
        st.sampled_from(["", " text:Hello world", " text:id:7 err:9 stat:X", " text:", " ", "\0"])
    )
    return space.join(f"{k}:{v}" for k, v in zip(keys, values, strict=True)) + tail


@st.composite
def receipt_pdus(draw: st.DrawFn) -> DeliverSm | DataSm:
    text = draw(st.one_of(appendix_b_text(), generated_receipt_text()))
    tlvs: dict[int, int | str | bytes] = {}
    if draw(st.booleans()):
        tlvs[TlvTag.receipted_message_id] = draw(st.one_of(_ID, st.sampled_from(["", "  "])))
    if draw(st.booleans()):
        tlvs[TlvTag.message_state] = draw(st.sampled_from([0, 1, 2, 3, 5, 7, 8, 9, 200]))
    if draw(st.booleans()):
        tlvs[TlvTag.network_error_code] = draw(st.sampled_from([b"\x03\x00\x01", b"\x03\x01"]))
    data_coding = draw(st.sampled_from([0, 0, 3, 8]))
    raw = text.encode("utf-16-be" if data_coding == 8 else "latin-1")
    esm_class = draw(st.sampled_from([EsmClass.smsc_delivery_receipt, 0x20, 0]))
    if draw(st.booleans()):
        tlvs[TlvTag.message_payload] = raw
        return DataSm(esm_class=esm_class, data_coding=data_coding, tlvs=tlvs)
    return DeliverSm(esm_class=esm_class, data_coding=data_coding, short_message=raw, tlvs=tlvs)


@given(receipt_pdus(), st.one_of(st.none(), st.floats(min_value=0, max_value=4e9)))
@example(receipt_pdu(NO_TEXT.replace("2612020930", "201103141815")), 1.3e9)
@example(receipt_pdu(NO_TEXT.replace("2612020931", "201103141815")), 1.6e9)
def test_parse_receipt_reads_what_the_general_path_reads(
    pdu: DeliverSm | DataSm, now: float | None
) -> None:
    """Any receipt: the id, state, error code, counts and dates (or a ValueError) are the
    ones the field-by-field reading and the keyword-built Receipt give."""
    assert outcome(lambda: parse_receipt(pdu, now=now)) == outcome(
        lambda: general_receipt(pdu, now)
    )


@given(st.one_of(appendix_b_text(), generated_receipt_text()))
def test_appendix_b_regex_reads_what_the_field_reader_reads(text: str) -> None:
    fields = _regex_fields(text)
    assert _field_values(text) == tuple(fields.get(key) for key in _RECEIPT_KEYS)


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        (APPENDIX_B, True),
        (NO_TEXT, True),
        (NO_TEXT + " text:", True),
        (APPENDIX_B.replace("id:0123456789", "id:DEADbeef"), True),
        (NO_TEXT + " ", False),  # a trailing space: the field reader decides
        (APPENDIX_B.replace("id:", "ID:"), False),
        (APPENDIX_B.replace("id:0123456789", "id:01-23"), False),
        (APPENDIX_B.replace("err:000", "err:"), False),
        (APPENDIX_B.replace(" sub:", "  sub:"), False),
        (APPENDIX_B.replace("id:0123456789", "id:0123é"), False),
        (NO_TEXT + " extra:1", False),
    ],
)
def test_only_the_exact_layout_with_ascii_values_takes_the_regex(text: str, fast: bool) -> None:
    assert (_APPENDIX_B.match(text) is not None) is fast
    fields = _regex_fields(text)
    assert _field_values(text) == tuple(fields.get(key) for key in _RECEIPT_KEYS)


def test_slot_built_receipt_equals_the_keyword_built_one() -> None:
    when = dt.datetime(2026, 12, 2, 9, 31, tzinfo=dt.UTC)
    built = _receipt(("ff", "255"), ReceiptState.expired, "027", 1, 0, None, when)
    assert built == Receipt(ids=("ff", "255"), state=ReceiptState.expired, error_code="027",
                            submitted=1, delivered=0, submit_date=None, done_date=when)  # fmt: skip
    assert hash(built) == hash(Receipt(ids=("ff", "255"), state=ReceiptState.expired,
                                       error_code="027", submitted=1, delivered=0,
                                       done_date=when))  # fmt: skip


@given(
    st.lists(st.one_of(_ID, st.text(max_size=6)), min_size=1, max_size=3),
    st.sampled_from(["auto", "exact", "hex_to_dec", "dec_to_hex", "strip_zeros"]),
)
def test_receipt_keys_are_the_general_ones(ids: list[str], mode: IdMode) -> None:
    """Also for ids no carrier sends (Unicode digits, blanks): the same keys or error."""
    assert outcome(lambda: receipt_id_candidates(ids, mode=mode)) == outcome(
        lambda: general_candidates(tuple(ids), mode)
    )
    if len(ids) == 1:
        assert outcome(lambda: receipt_id_candidates(ids[0], mode=mode)) == outcome(
            lambda: general_candidates(tuple(ids), mode)
        )


@given(_DATE, st.one_of(st.none(), st.floats(min_value=0, max_value=4e9)))
@example("201103141815", 1.3e9)  # fits both layouts: the 4-digit year is nearer
@example("201103141815", 1.6e9)  # fits both layouts: the 2-digit year is nearer
@example("201103141815", None)
def test_receipt_date_is_parse_receipt_date_near_now(value: str, now: float | None) -> None:
    near = None if now is None else dt.datetime.fromtimestamp(now, dt.UTC)
    assert _receipt_date(value, now) == parse_receipt_date(value, near=near)
