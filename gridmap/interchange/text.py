"""Text of CSV files as Excel writes them (pure): UTF-8 with or without BOM, or GBK/GB18030.

Excel in a zh-CN locale saves "CSV" in the ANSI code page (GBK) and "CSV UTF-8"
with a byte-order mark; files from other tools are plain UTF-8. We write
UTF-8 with a BOM (:data:`CSV_ENCODING`), which every Excel opens correctly.
"""

from __future__ import annotations

import codecs

from gridmap.errors import InvalidInput

#: Encoding of every CSV gridmap writes: Excel shows Chinese correctly only with the BOM.
CSV_ENCODING = "utf-8-sig"
BOM = "\ufeff"


def decode_csv(data: bytes | str, *, source: str = "CSV") -> str:
    """The text of a CSV file: UTF-8 (BOM optional) first, then GB18030 (a superset of GBK and GB2312).

    UTF-8 wins over GB18030 because GBK text is almost never valid UTF-8, while
    many byte strings are valid GB18030; the rare GBK text that is valid UTF-8
    is recognised by what it reads as (see ``_looks_misread``). Raises
    InvalidInput naming both encodings when neither decodes.
    """
    if isinstance(data, str):
        return data.removeprefix(BOM)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8")
        except UnicodeDecodeError:
            pass
    utf8, gbk = _decoded(data, "utf-8"), _decoded(data, "gb18030")
    if utf8 is not None and gbk is not None and _looks_misread(utf8, gbk):
        return gbk
    if utf8 is not None:
        return utf8
    if gbk is not None:
        return gbk
    raise InvalidInput(f"{source} is neither UTF-8 nor GBK/GB18030 text; save it from Excel as "
                       "'CSV UTF-8' or 'CSV'")


def _decoded(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _looks_misread(utf8: str, gbk: str) -> bool:
    """GBK bytes that happen to be valid UTF-8 (园 is D4 B0, also U+0530).

    Such a misreading yields only two-byte characters (U+0080..U+07FF: Latin,
    Greek, Armenian ...) and never an ideograph, while real UTF-8 Chinese text
    always has ideographs (three bytes each).
    """
    wide = any(ord(ch) >= 0x800 for ch in utf8)
    return not wide and any(0x80 <= ord(ch) < 0x800 for ch in utf8) and any(_ideograph(ch) for ch in gbk)


def _ideograph(ch: str) -> bool:
    return 0x4E00 <= ord(ch) <= 0x9FFF or 0x3400 <= ord(ch) <= 0x4DBF
