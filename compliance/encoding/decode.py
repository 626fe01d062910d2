"""Decoding short_message user data (MO messages and receipts) to text.

Owns the mapping from SMPP data_coding (SMPP 3.4 §5.2.19, plus the GSM data coding scheme
groups of 3GPP TS 23.038 §4 that many SMSCs pass through) to an alphabet, and the decoding of
each: GSM-7 packed or unpacked with the national tables the UDH names (IEI 0x24/0x25), UCS-2 as
UTF-16BE with surrogate pairs, Latin-1, IA5, ISO-8859-5/8. 8-bit data decodes to no text.

Decoding never fails on content: undecodable units become U+FFFD. Only a UDH that does not fit
its short_message raises (MalformedUserDataError).
"""

from __future__ import annotations

from typing import Final

from compliance.encoding.gsm7 import gsm7_codec, unpack_septets
from compliance.encoding.locking_tables import LOCKING_TABLES
from compliance.encoding.model import DecodedText, Encoding, NationalLanguage, national_encoding
from compliance.encoding.udh import parse_udh

_SMPP_DATA_CODING: Final = {
    0x00: Encoding.gsm7,  # SMSC default alphabet: GSM 03.38 on every route we know
    0x01: Encoding.ia5,
    0x02: Encoding.binary,
    0x03: Encoding.latin1,
    0x04: Encoding.binary,
    0x06: Encoding.iso8859_5,
    0x07: Encoding.iso8859_8,
    0x08: Encoding.ucs2,
}
_PYTHON_CODEC: Final = {
    Encoding.ia5: "ascii",
    Encoding.latin1: "latin-1",
    Encoding.iso8859_5: "iso8859-5",
    Encoding.iso8859_8: "iso8859-8",
    Encoding.ucs2: "utf-16-be",
}
_GSM_ALPHABET: Final = (Encoding.gsm7, Encoding.binary, Encoding.ucs2, Encoding.binary)


def encoding_for_data_coding(data_coding: int) -> Encoding:
    """The alphabet a data_coding value announces.

    0x00-0x08 follow SMPP 3.4 §5.2.19; its other values below 0x10 (JIS, pictogram, KS C
    5601, ...) are not decoded and count as binary. Other values are read as a TS 23.038 §4
    data coding scheme: groups 00xx and 01xx (bits 3-2 give the alphabet; compressed text
    is binary), 1100/1101 (GSM-7), 1110 (UCS-2) and 1111 (bit 2: 8-bit, else GSM-7).
    Reserved values are binary.
    """
    known = _SMPP_DATA_CODING.get(data_coding)
    if known is not None:
        return known
    if data_coding < 0x10:  # JIS, pictogram, ISO-2022-JP, KS C 5601...: not decoded here
        return Encoding.binary
    group = data_coding >> 4
    if group <= 0x07:
        compressed = bool(data_coding & 0x20)
        return Encoding.binary if compressed else _GSM_ALPHABET[(data_coding >> 2) & 0x03]
    if group in (0x0C, 0x0D):
        return Encoding.gsm7
    if group == 0x0E:
        return Encoding.ucs2
    if group == 0x0F:
        return Encoding.binary if data_coding & 0x04 else Encoding.gsm7
    return Encoding.binary


def decode_short_message(
    short_message: bytes,
    data_coding: int,
    *,
    udhi: bool,
    packed: bool = False,
    default_alphabet: Encoding = Encoding.gsm7,
) -> DecodedText:
    """Decode one short_message (or message_payload) to text.

    Args:
        short_message: the octets as received.
        data_coding: the PDU's data_coding.
        udhi: esm_class has 0x40 set, so the octets start with a UDH.
        packed: GSM-7 arrives packed 8-in-7 (a per-carrier setting), else one septet per octet.
        default_alphabet: what data_coding 0 means on this carrier (EncodingProfile
            .default_alphabet); GSM-7 unless the carrier declares Latin-1 or IA5.

    Raises:
        MalformedUserDataError: udhi is set but the UDH does not fit.
    """
    encoding = default_alphabet if data_coding == 0 else encoding_for_data_coding(data_coding)
    udh = parse_udh(short_message) if udhi else None
    header = udh.length if udh is not None else 0
    if not encoding.is_gsm7:
        user_data = short_message[header:]
        return DecodedText(
            text=decode_user_data(user_data, encoding),
            encoding=encoding,
            data_coding=data_coding,
            udh=udh,
            user_data=user_data,
        )
    unpacked = short_message[header:]
    septets = unpack_septets(short_message, udh_length=header) if packed else unpacked
    locking = udh.locking_shift if udh is not None else None
    single = udh.single_shift if udh is not None else None
    if locking is not None and int(locking) not in LOCKING_TABLES:
        locking = None  # Spanish has no locking shift table (TS 23.038 A.3.2)
    national = locking or single
    return DecodedText(
        text=decode_user_data(septets, Encoding.gsm7, locking=locking, single=single),
        encoding=national_encoding(national) if national else Encoding.gsm7,
        data_coding=data_coding,
        udh=udh,
        user_data=septets,
        locking_shift=locking,
        single_shift=single,
    )


def decode_user_data(
    user_data: bytes,
    encoding: Encoding,
    *,
    locking: NationalLanguage | None = None,
    single: NationalLanguage | None = None,
) -> str | None:
    """Text for user data without UDH: unpacked septets for GSM-7, octets otherwise.

    Returns None for binary data. UCS-2 is read as UTF-16BE, so surrogate pairs become one
    character; a lone surrogate becomes U+FFFD.
    """
    if encoding.is_gsm7:
        codec = gsm7_codec(int(locking) if locking else 0, int(single) if single else 0)
        return codec.decode(user_data)
    python_codec = _PYTHON_CODEC.get(encoding)
    if python_codec is None:
        return None
    return user_data.decode(python_codec, "replace")
