"""Standard addresses: normalisation, parsing, gazetteer matching under dispatcher noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.address import (
    Gazetteer,
    Match,
    ParsedAddress,
    add_noise,
    chinese_to_int,
    int_to_chinese,
    normalize,
    parse,
    strip_admin_prefix,
)
from gridmap.errors import AddressNotFound, InvalidInput

PREFIX = "江苏省无锡市新吴区"
STREETS = ("旺庄街道", "硕放街道", "梅村街道")
# Similar names on purpose: 春潮花园 / 春潮花园二期 / 春潮新村 / 春潮小区, 春江 / 春晖,
# 新华家园 / 新华雅苑; and names that look like admin prefixes: 新吴花园, 旺庄花园, 城市花园, 东区花园,
# 无锡新区工博园.
COMPOUNDS = (
    ("春潮花园", "长江路"),
    ("春潮花园二期", "长江路"),
    ("春潮新村", "长江北路"),
    ("春江花园", "珠江路"),
    ("春晖花园", "珠江路"),
    ("长江花园", "长江路"),
    ("长江新村", "长江北路"),
    ("珠江苑", "珠江路"),
    ("新华家园", "新华路"),
    ("新华雅苑", "新华路"),
    ("旺庄花园", "旺庄路"),
    ("锡士苑", "锡士路"),
    ("和风雅居", "和风路"),
    ("震泽花园", "震泽路"),
    ("金城湾花园", "震泽路"),
    ("新吴花园", "旺庄路"),
    ("城市花园", "锡士路"),
    ("东区花园", "和风路"),
    ("香楠佳苑", "新华路"),
    ("春潮小区", "长江北路"),
    ("太湖家园", "太湖大道"),
    ("无锡新区工博园", "丰收街"),  # from the demo data: 无锡 + 新区 + a name
)


def synthetic_addresses(rng: np.random.Generator) -> pd.DataFrame:
    """About 2000 addresses: one compound-level row per compound, then building × unit rows.

    Compound c is at door 8 + 10c of its road, in street c mod 3; it has
    20–33 buildings of 2–5 units each.
    """
    rows = []
    for c, (name, road) in enumerate(COMPOUNDS):
        cid, door = f"C{c:02d}", str(8 + 10 * c)
        head = f"{PREFIX}{STREETS[c % 3]}{road}{door}号{name}"
        base = {"compound_id": cid, "road": road, "door_number": door, "compound_name": name}
        compound_row = {"address": head, "building_id": None, "building_no": None, "unit": None}
        rows.append({"id": f"A{len(rows):05d}", **compound_row, **base})
        for b in range(1, int(rng.integers(20, 34)) + 1):
            for u in range(1, int(rng.integers(2, 6)) + 1):
                rows.append(
                    {
                        "id": f"A{len(rows):05d}",
                        "address": f"{head}{b}栋{u}单元",
                        "building_id": f"{cid}-B{b:02d}",
                        "building_no": b,
                        "unit": u,
                        **base,
                    }
                )
    frame = pd.DataFrame(rows)
    return frame.astype({"building_no": "Int64", "unit": "Int64"})


@pytest.fixture(scope="module")
def addresses() -> pd.DataFrame:
    return synthetic_addresses(np.random.default_rng(20240601))


@pytest.fixture(scope="module")
def gazetteer(addresses: pd.DataFrame) -> Gazetteer:
    return Gazetteer(addresses, prefixes=["江苏省", "无锡市", "新吴区", *STREETS])


def row_of(addresses: pd.DataFrame, compound: str, building: int | None, unit: int | None) -> pd.Series:
    rows = addresses[addresses.compound_name == compound]
    if building is None:
        return rows[rows.building_no.isna()].iloc[0]
    return rows[(rows.building_no == building) & (rows.unit == unit)].iloc[0]


# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("春潮花园１２栋２单元", "春潮花园12栋2单元"),  # full-width digits
        ("春潮花园 12 栋 2 单元。", "春潮花园12栋2单元"),  # spaces and punctuation
        ("春潮花园十二栋二单元", "春潮花园12栋2单元"),
        ("春潮花园两栋", "春潮花园2栋"),
        ("春潮花园二十栋", "春潮花园20栋"),
        ("长江路一百零八号", "长江路108号"),
        ("春潮花园12幢", "春潮花园12栋"),
        ("春潮花园3号楼", "春潮花园3栋"),
        ("春潮花园3#楼", "春潮花园3栋"),
        ("春潮花园3#2单元", "春潮花园3栋2单元"),
        ("春潮花园3座", "春潮花园3栋"),
        ("春潮花园12号2单元", "春潮花园12栋2单元"),  # 号 of a building, before a unit
        ("春潮花园12号", "春潮花园12栋"),
        ("春潮花园2-单元", "春潮花园2单元"),
        ("春潮花园第二单元", "春潮花园2单元"),
        ("春潮花园12栋2单元1201房", "春潮花园12栋2单元1201室"),
        ("春潮花园12栋2单元1201", "春潮花园12栋2单元1201室"),
        ("春潮花园12栋2单元一二零一室", "春潮花园12栋2单元1201室"),
        ("春潮花园12-2-1201", "春潮花园12栋2单元1201室"),
        ("长江路88号春潮花园", "长江路88号春潮花园"),  # door number 号 stays
        ("长江路88号2单元", "长江路88号2单元"),  # ... even before a unit
        ("五一路8号", "五一路8号"),  # numerals that are part of a name stay
        ("三江花园", "三江花园"),
        ("ａ座花园", "A座花园"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="春潮花园长江路号栋幢单元室楼座#- 一二三十百零两0123456789１２", max_size=30))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("青年南路17號", "青年南路17号"),
        ("春潮花園12棟2單元", "春潮花园12栋2单元"),
        ("春潮花園3號樓", "春潮花园3栋"),  # 號樓 = 号楼 = 栋
        ("春潮花園十二幢二單元一二零一室", "春潮花园12栋2单元1201室"),
        ("江蘇省無錫市新吳區旺莊街道長江路八十八號", "江苏省无锡市新吴区旺庄街道长江路88号"),
        ("錦繡華庭東區", "锦绣华庭东区"),
        ("濱湖灣裡巷3號", "滨湖湾里巷3号"),
        ("於單", "于单"),  # a second OpenCC pass converts what the first left
    ],
)
def test_traditional_characters_are_simplified(text: str, expected: str) -> None:
    assert normalize(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="號棟幢單元樓層區園華麗錦龍鳳灣濱東門陽莊橋廣場興寧匯蘇錫縣鎮鄉裡裏衚衕弄巷街路道"
                        "室#-一二三十零兩012１２春潮花园长江路号栋单元楼于於乾干後后臺台著着", max_size=30))
def test_normalize_is_idempotent_with_traditional_characters(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


def test_traditional_text_matches_the_simplified_entry(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    row = row_of(addresses, "春潮花园", 12, 2)
    for text in ("長江路8號春潮花園12棟2單元", "江蘇省無錫市新吳區旺莊街道長江路8號春潮花園12棟2單元",
                 "春潮花園十二棟二單元"):
        found = gazetteer.match(text)
        assert (found.address_id, found.building_id) == (row.id, row.building_id), text
    door = gazetteer.match("長江路8號")  # road + door alone: the compound at that door
    assert door.compound_id == "C00" and door.building_id is None


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("一百零八", 108), ("两", 2), ("一二零一", 1201), ("一千零一", 1001)],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert chinese_to_int(numeral) == value


@pytest.mark.parametrize("value", range(100))
def test_int_to_chinese_round_trips(value: int) -> None:
    assert chinese_to_int(int_to_chinese(value)) == value


# ---------------------------------------------------------------- admin prefixes

ADMIN = ("江苏省", "无锡市", "新吴区", "旺庄街道")


@pytest.mark.parametrize(
    "text",
    [
        "江苏省无锡市新吴区旺庄街道长江路88号",
        "无锡市新吴区长江路88号",
        "江苏无锡新吴长江路88号",
        "无锡新吴区旺庄长江路88号",
        "新吴区江苏省长江路88号",  # any order
        "旺庄街道长江路88号",
        "长江路88号",
    ],
)
def test_strip_admin_prefix_any_combination(text: str) -> None:
    assert strip_admin_prefix(normalize(text), ADMIN) == "长江路88号"


def test_strip_admin_prefix_keeps_road_and_compound_names() -> None:
    assert strip_admin_prefix("旺庄路8号", ADMIN) == "旺庄路8号"  # 旺庄 + 路 is a road
    assert strip_admin_prefix("无锡新吴旺庄东路8号", ADMIN) == "旺庄东路8号"
    assert strip_admin_prefix("新吴区新吴花园3栋", ADMIN, keep=["新吴花园"]) == "新吴花园3栋"
    assert strip_admin_prefix("江苏省", ADMIN) == "江苏省"  # never strips to nothing


# ---------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "江苏省无锡市新吴区旺庄街道长江路88号春潮花园12栋2单元",
            ParsedAddress("长江路", "88", "春潮花园", 12, 2, None, ""),
        ),
        ("长江路88号春潮花园", ParsedAddress("长江路", "88", "春潮花园", None, None, None, "")),
        ("长江路88号", ParsedAddress("长江路", "88", None, None, None, None, "")),
        ("春潮花园十二幢二单元1201室", ParsedAddress(None, None, "春潮花园", 12, 2, "1201", "")),
        ("春潮花园3号楼", ParsedAddress(None, None, "春潮花园", 3, None, None, "")),
        ("太湖大道8号春潮花园1栋", ParsedAddress("太湖大道", "8", "春潮花园", 1, None, None, "")),
        ("新区大道8号", ParsedAddress("新区大道", "8", None, None, None, None, "")),
        ("锦绣巷3号", ParsedAddress("锦绣巷", "3", None, None, None, None, "")),
        ("新吴区春潮花园12栋", ParsedAddress(None, None, "春潮花园", 12, None, None, "")),
        ("城市花园3栋", ParsedAddress(None, None, "城市花园", 3, None, None, "")),
        ("东区花园3栋", ParsedAddress(None, None, "东区花园", 3, None, None, "")),
        ("春潮花园12栋2单元1201室门口漏水", ParsedAddress(None, None, "春潮花园", 12, 2, "1201", "门口漏水")),
        ("长江路88-1号", ParsedAddress("长江路", "88-1", None, None, None, None, "")),
    ],
)
def test_parse(text: str, expected: ParsedAddress) -> None:
    assert parse(text) == expected


# ---------------------------------------------------------------- gazetteer levels


def test_synthetic_gazetteer_size(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    assert 1800 <= len(addresses) <= 2600
    assert len(gazetteer) == len(addresses)
    assert {"江苏省", "无锡市", "新吴区", "旺庄街道", "硕放街道", "梅村街道"} <= set(gazetteer.prefixes)


def test_exact(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    row = row_of(addresses, "春潮花园", 12, 2)
    for text in (row.address, "长江路8号春潮花园12栋2单元", "无锡 长江路8号 春潮花园12栋2单元", "江苏旺庄长江路8号春潮花园12栋2单元"):
        found = gazetteer.match(text)
        assert (found.level, found.address_id, found.building_id) == ("exact", row.id, row.building_id)
        assert found.confidence == 1.0
        assert found.parsed.building_no == 12 and found.candidates == []


def test_exact_compound_level(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    row = row_of(addresses, "春潮花园二期", None, None)
    found = gazetteer.match("长江路18号春潮花园二期")
    assert (found.level, found.address_id, found.compound_id, found.building_id) == ("exact", row.id, "C01", None)


@pytest.mark.parametrize(
    "text",
    [
        "春潮花园12栋2单元",  # compound + building + unit, no road
        "长江路8号12栋2单元",  # road + door + building + unit, no compound
        "春潮花园十二幢二单元1201室",
        "长江路8号春朝花园12号楼2单元",  # typo in the name; road + door decide
        "春潮花园小区12-2-1201",
    ],
)
def test_structured(text: str, addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    row = row_of(addresses, "春潮花园", 12, 2)
    found = gazetteer.match(text)
    assert (found.level, found.address_id, found.building_id) == ("structured", row.id, row.building_id)
    assert found.confidence >= 0.9


def test_structured_without_unit_is_the_building_first_unit(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    row = row_of(addresses, "春潮花园二期", 5, 1)
    found = gazetteer.match("春潮花园二期5幢")
    assert (found.level, found.address_id, found.building_id) == ("structured", row.id, row.building_id)


def test_structured_keeps_names_that_look_like_admin(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    for name in ("新吴花园", "旺庄花园", "城市花园", "东区花园", "无锡新区工博园"):
        row = row_of(addresses, name, 3, 1)
        for text in (f"新吴区{name}3栋1单元", f"{name}3座1单元"):
            found = gazetteer.match(text)
            assert (found.level, found.building_id) == ("structured", row.building_id), text


@pytest.mark.parametrize(
    ("text", "compound", "building", "unit"),
    [
        ("春潮花圆12栋2单元", "春潮花园", 12, 2),  # 圆 for 园
        ("香南佳苑3栋1单元", "香楠佳苑", 3, 1),  # homophone 南 for 楠
        ("金城湾5栋2单元", "金城湾花园", 5, 2),  # name shortened
        ("长江璐8号春潮花园3栋1单元", "春潮花园", 3, 1),  # garbled road
    ],
)
def test_fuzzy(
    text: str, compound: str, building: int, unit: int, addresses: pd.DataFrame, gazetteer: Gazetteer
) -> None:
    row = row_of(addresses, compound, building, unit)
    found = gazetteer.match(text)
    assert (found.level, found.address_id, found.building_id) == ("fuzzy", row.id, row.building_id)
    assert 0.5 < found.confidence < 0.9


def test_fuzzy_ambiguous_returns_candidates(gazetteer: Gazetteer) -> None:
    # 春朝 is one character from 春潮, 春江 and 春晖 alike: the dispatcher must ask.
    found = gazetteer.match("春朝花园12栋2单元")
    assert found.level == "fuzzy" and found.ambiguous
    assert found.address_id is None and found.building_id is None
    names = {address for _, address, _ in found.candidates}
    assert {n for n in ("春潮花园12栋", "春江花园12栋", "春晖花园12栋") if any(n in a for a in names)} == {
        "春潮花园12栋",
        "春江花园12栋",
        "春晖花园12栋",
    }
    assert 2 <= len(found.candidates) <= 5
    assert found.confidence < 0.5


def test_compound_level_from_free_text(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    row = row_of(addresses, "春潮花园", None, None)
    found = gazetteer.match("春潮花园门口垃圾桶满了")
    assert (found.level, found.compound_id, found.address_id) == ("compound", row.compound_id, row.id)
    assert found.building_id is None
    assert found.confidence <= 0.6


def test_compound_level_when_building_does_not_exist(gazetteer: Gazetteer) -> None:
    found = gazetteer.match("春潮花园99栋2单元")
    assert (found.level, found.compound_id, found.building_id) == ("compound", "C00", None)
    assert gazetteer.match("长江路8号99栋").compound_id == "C00"


def test_compound_level_ambiguous(gazetteer: Gazetteer) -> None:
    found = gazetteer.match("新华7栋1单元")
    assert found.level == "compound" and found.ambiguous and found.compound_id is None
    assert {a.split("号")[-1] for _, a, _ in found.candidates} == {"新华家园", "新华雅苑"}


# ---------------------------------------------------------------- dispatcher noise


def test_noisy_addresses_resolve_to_the_right_building(addresses: pd.DataFrame, gazetteer: Gazetteer) -> None:
    rng = np.random.default_rng(7)
    units = addresses[addresses.unit.notna()].reset_index(drop=True)
    sample = units.iloc[rng.choice(len(units), size=800, replace=False)]
    right = 0
    levels: dict[str, int] = {}
    for row in sample.itertuples():
        noisy = add_noise(row.address, rng)
        found = gazetteer.match(noisy)
        levels[found.level] = levels.get(found.level, 0) + 1
        right += found.building_id == row.building_id
    assert right / len(sample) >= 0.98, (right, levels)
    assert levels.get("structured", 0) > 100  # the noise really did change the text


def test_add_noise_is_reproducible_and_noisy(addresses: pd.DataFrame) -> None:
    text = row_of(addresses, "春潮花园", 12, 2).address
    first = [add_noise(text, np.random.default_rng(s)) for s in range(50)]
    again = [add_noise(text, np.random.default_rng(s)) for s in range(50)]
    assert first == again
    assert sum(n != text for n in first) > 40
    assert any("幢" in n or "号楼" in n for n in first)
    assert any("１" in n or "２" in n for n in first)
    assert any("单元" not in n for n in first)
    assert any(not n.startswith("江苏") for n in first)
    assert any("十二" in n or "二单元" in n for n in first)
    assert any(" " in n for n in first)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_text_is_invalid(text: str, gazetteer: Gazetteer) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        gazetteer.match(text)


def test_oversized_text_is_invalid(gazetteer: Gazetteer) -> None:
    with pytest.raises(InvalidInput, match="201 characters"):
        gazetteer.match("春" * 201)
    assert isinstance(gazetteer.match("春潮花园12栋2单元" + " " * 180), Match)


@pytest.mark.parametrize("text", ["火星路1号", "我家在附近", "长江路", "12栋2单元"])
def test_unmatched_text_names_the_text(text: str, gazetteer: Gazetteer) -> None:
    with pytest.raises(AddressNotFound) as err:
        gazetteer.match(text)
    assert repr(text) in str(err.value)


def test_missing_columns_are_reported() -> None:
    with pytest.raises(InvalidInput, match="compound_id"):
        Gazetteer(pd.DataFrame({"id": [1], "address": ["长江路8号"]}))


def test_structured_columns_are_optional(addresses: pd.DataFrame) -> None:
    """Without road/building columns the gazetteer parses the address text itself."""
    minimal = Gazetteer(addresses[["id", "address", "compound_id", "building_id"]])
    row = row_of(addresses, "春潮花园", 12, 2)
    found = minimal.match("春潮花园十二幢二单元")
    assert (found.level, found.building_id) == ("structured", row.building_id)
