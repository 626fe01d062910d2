"""User data headers: building and parsing the information elements smsgw uses (TS 23.040).

Owns the byte layout of the UDH (3GPP TS 23.040 §9.2.3.24): UDHL, then information elements
(IEI, IEDL, data). Built here: concatenation with an 8-bit (IEI 0x00, §9.2.3.24.1) or 16-bit
reference (IEI 0x08, §9.2.3.24.8), national language single shift (IEI 0x24, §9.2.3.24.15) and
locking shift (IEI 0x25, §9.2.3.24.16). Parsed: every element, the known ones interpreted.
Also maps SAR TLVs (SMPP 3.4 §5.3.2.22-24) to the same `ConcatInfo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from compliance.encoding.errors import MalformedUserDataError
from compliance.encoding.model import ConcatInfo, NationalLanguage, UdhInfo

IEI_CONCAT_8: Final = 0x00
IEI_CONCAT_16: Final = 0x08
IEI_SINGLE_SHIFT: Final = 0x24
IEI_LOCKING_SHIFT: Final = 0x25

TLV_SAR_MSG_REF_NUM: Final = 0x020C
TLV_SAR_TOTAL_SEGMENTS: Final = 0x020E
TLV_SAR_SEGMENT_SEQNUM: Final = 0x020F

CONCAT_IE_OCTETS: Final[Mapping[int, int]] = {8: 5, 16: 6}  # IEI + IEDL + data
SHIFT_IE_OCTETS: Final = 3


def concat_ie(reference: int, total: int, seq: int, bits: Literal[8, 16]) -> bytes:
    """The concatenation element for part `seq` of `total` (TS 23.040 §9.2.3.24.1 / .8)."""
    if bits == 8:
        return bytes((IEI_CONCAT_8, 3, reference, total, seq))
    return bytes((IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, seq))


def shift_ies(locking: int, single: int) -> bytes:
    """The national language elements for a table pair (0 = default, no element)."""
    ies = b""
    if single:
        ies += bytes((IEI_SINGLE_SHIFT, 1, single))
    if locking:
        ies += bytes((IEI_LOCKING_SHIFT, 1, locking))
    return ies


def build_udh(elements: bytes) -> bytes:
    """UDHL + `elements`, or b"" when there are none."""
    return bytes((len(elements),)) + elements if elements else b""


def parse_udh(data: bytes) -> UdhInfo:
    """Parse the UDH at the start of `data` (user data with UDHI set).

    Unknown elements are kept raw; a known element with the wrong length, a concatenation
    element with seq 0 or seq > total, or an unknown language id is ignored, as TS 23.040
    §9.2.3.24 asks of receivers. An element that runs past the UDHL ends the parse.

    Raises:
        MalformedUserDataError: `data` is empty or shorter than its UDHL announces.
    """
    if not data:
        raise MalformedUserDataError("UDHI set but short_message is empty")
    length = data[0] + 1
    if length > len(data):
        raise MalformedUserDataError(f"UDHL {data[0]} exceeds the {len(data)}-octet message")
    elements: list[tuple[int, bytes]] = []
    index = 1
    while index + 2 <= length:
        iei, iedl = data[index], data[index + 1]
        end = index + 2 + iedl
        if end > length:
            break
        elements.append((iei, data[index + 2 : end]))
        index = end
    return _interpret(length, tuple(elements))


def _interpret(length: int, elements: tuple[tuple[int, bytes], ...]) -> UdhInfo:
    concat: ConcatInfo | None = None
    single: NationalLanguage | None = None
    locking: NationalLanguage | None = None
    for iei, value in elements:
        if iei == IEI_CONCAT_8 and len(value) == 3:
            concat = _valid_concat(value[0], value[1], value[2], 8) or concat
        elif iei == IEI_CONCAT_16 and len(value) == 4:
            reference = int.from_bytes(value[:2], "big")
            concat = _valid_concat(reference, value[2], value[3], 16) or concat
        elif iei == IEI_SINGLE_SHIFT and len(value) == 1:
            single = _language(value[0]) or single
        elif iei == IEI_LOCKING_SHIFT and len(value) == 1:
            locking = _language(value[0]) or locking
    return UdhInfo(
        length=length, concat=concat, single_shift=single, locking_shift=locking, elements=elements
    )


def _valid_concat(reference: int, total: int, seq: int, bits: Literal[8, 16]) -> ConcatInfo | None:
    if total == 0 or not 1 <= seq <= total:
        return None
    return ConcatInfo(reference=reference, total=total, seq=seq, reference_bits=bits)


def _language(value: int) -> NationalLanguage | None:
    try:
        return NationalLanguage(value)
    except ValueError:
        return None


def concat_from_sar(tlvs: Mapping[int, object]) -> ConcatInfo | None:
    """ConcatInfo from the SAR TLVs of a PDU, or None when absent or inconsistent."""
    reference = tlvs.get(TLV_SAR_MSG_REF_NUM)
    total = tlvs.get(TLV_SAR_TOTAL_SEGMENTS)
    seq = tlvs.get(TLV_SAR_SEGMENT_SEQNUM)
    if not (isinstance(reference, int) and isinstance(total, int) and isinstance(seq, int)):
        return None
    return _valid_concat(reference, total, seq, 16)


def sar_tlvs(reference: int, total: int, seq: int) -> dict[int, int]:
    """The three SAR TLVs for part `seq` of `total` (SMPP 3.4 §5.3.2.22-24)."""
    return {
        TLV_SAR_MSG_REF_NUM: reference,
        TLV_SAR_TOTAL_SEGMENTS: total,
        TLV_SAR_SEGMENT_SEQNUM: seq,
    }
