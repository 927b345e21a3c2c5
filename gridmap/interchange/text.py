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

    Plain UTF-8 is tried before GB18030 because GBK text is almost never valid
    UTF-8, while many byte strings are valid GB18030. Raises InvalidInput naming
    both encodings when neither decodes.
    """
    if isinstance(data, str):
        return data.removeprefix(BOM)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"{source} is neither UTF-8 nor GBK/GB18030 text; save it from Excel as "
                       "'CSV UTF-8' or 'CSV'")
