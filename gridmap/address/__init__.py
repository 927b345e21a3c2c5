"""Chinese standard addresses (标准地址, GB/T 39609 style): normalise, parse, match.

A standard address is road + door number (路 + 号) and/or compound + building
+ unit (+ room): '江苏省无锡市新吴区旺庄街道长江路88号春潮花园12栋2单元'.
"""

from gridmap.address.gazetteer import Gazetteer, Match, compound_key
from gridmap.address.noise import add_noise
from gridmap.address.normalize import (
    MAX_LENGTH,
    admin_variants,
    chinese_to_int,
    int_to_chinese,
    normalize,
    strip_admin_prefix,
)
from gridmap.address.parse import ParsedAddress, parse

__all__ = ["MAX_LENGTH", "Gazetteer", "Match", "ParsedAddress", "add_noise", "admin_variants",
           "chinese_to_int", "compound_key", "int_to_chinese", "normalize", "parse", "strip_admin_prefix"]
