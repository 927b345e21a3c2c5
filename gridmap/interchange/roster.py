"""Read and check a staff roster (花名册) from CSV, XLSX or an interchange staff layer (pure).

The columns are those of the interchange ``staff`` layer (DESIGN.md §4):
id, name, role, agency, phone, phone_public, community_code, street_code;
extra columns (party_member, building_id, grid_code, ...) are kept and
stored as attributes. An officer role with no agency gets its own
(community_police → police, ...). Errors name the row as a spreadsheet shows it (the
header is row 1, the first person row 2) and the column.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
from openpyxl.utils.exceptions import InvalidFileException
from pyogrio.errors import DataLayerError, DataSourceError

from gridmap.domain import ROLES
from gridmap.errors import InvalidFile, InvalidInput
from gridmap.interchange.aliases import HEADER_ALIASES, NO, YES, agency_code, allowed_roles, column_name, role_code
from gridmap.interchange.issues import Issue, IssueLog
from gridmap.interchange.text import decode_csv

COLUMNS = ("id", "name", "role", "agency", "phone", "phone_public", "community_code", "street_code")
REQUIRED = ("id", "name", "role", "phone_public")
SUFFIXES = (".csv", ".xlsx", ".gpkg", ".geojson", ".json")
TRUE = frozenset({"true", "1", "yes", "y", "t"}) | YES
FALSE = frozenset({"false", "0", "no", "n", "f", ""}) | NO
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{2,30}$")
#: Roles whose holders act as enforcement officers and so must name their agency.
OFFICER_ROLES = {"community_police": "police", "urban_management": "urban_management",
                 "market_regulation": "market_regulation"}
FIRST_ROW = 2  # spreadsheet row of the first person (row 1 is the header)
UNREADABLE = (InvalidInput, ValueError, OSError, KeyError, zipfile.BadZipFile, InvalidFileException, DataSourceError,
              DataLayerError)


def read_roster(path: str | Path, *, communities: set[str] | None = None,
                streets: set[str] | None = None) -> pd.DataFrame:
    """The checked roster of ``path``: one row per person, indexed by spreadsheet row number.

    Headers and values may be Chinese (姓名, 角色 = 社区民警, 电话公开 = 是); a
    CSV may be UTF-8 (with or without BOM) or GBK. Given the stored
    ``communities`` and ``streets``, their codes are checked too. Raises
    InvalidFile listing every problem by row and column.
    """
    path = Path(path)
    raw = _read_raw(path)
    return check_roster(raw, source=path.name, communities=communities, streets=streets)


def check_roster(raw: pd.DataFrame, source: str = "roster", *, communities: set[str] | None = None,
                 streets: set[str] | None = None) -> pd.DataFrame:
    """Check and tidy a roster read as text; the index becomes the spreadsheet row number."""
    raw = raw.rename(columns=column_name)
    if raw.columns.duplicated().any():
        twice = sorted(set(raw.columns[raw.columns.duplicated()]))
        raise InvalidFile(f"{source}: column(s) {twice} appear more than once (a header and its Chinese alias?)")
    missing = [c for c in (*REQUIRED, "community_code") if c not in raw.columns]
    if missing:
        raise InvalidFile(f"{source}: missing column(s) {missing}; required: {list(COLUMNS)} "
                          f"(or their Chinese names: {_chinese_headers()})")
    df = raw.map(_text).copy()
    df.index = pd.RangeIndex(FIRST_ROW, FIRST_ROW + len(df), name="row")
    df = df[~(df == "").all(axis=1)]  # blank spreadsheet lines
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = ""
    df["role"] = df["role"].map(role_code)
    df["agency"] = df["agency"].map(agency_code)
    log = IssueLog()
    for row, rec in df.iterrows():
        for col, why in problems(rec):
            log.add(_issue(source, int(row), col, rec.get(col, ""), why))
    log.extend(_duplicates(df, source))
    if communities is not None and streets is not None:
        log.extend(_unknown_codes(df, communities, streets, source))
    log.raise_if_errors(source)
    officer = df["role"].map(OFFICER_ROLES).fillna("")
    df["agency"] = df["agency"].where(df["agency"] != "", officer)
    df["phone_public"] = [_bool(v) for v in df["phone_public"]]
    if "party_member" in df.columns:
        df["party_member"] = [None if v == "" else _bool(v) for v in df["party_member"]]
    return df[[*COLUMNS, *[c for c in df.columns if c not in COLUMNS]]]


def check_references(roster: pd.DataFrame, communities: set[str], streets: set[str], source: str = "roster") -> None:
    """Every community_code and street_code names a stored community or street (all listed at once)."""
    log = IssueLog()
    log.extend(_unknown_codes(roster, communities, streets, source))
    log.raise_if_errors(source)


def _unknown_codes(roster: pd.DataFrame, communities: set[str], streets: set[str], source: str) -> list[Issue]:
    out = []
    for col, known in (("community_code", communities), ("street_code", streets)):
        bad = roster[(roster[col] != "") & ~roster[col].isin(known)]
        for row, value in zip(bad.index, bad[col]):
            out.append(_issue(source, int(row), col, value,
                              f"{value!r} is not a stored {col.split('_')[0]}; import its boundary first",
                              kind="reference"))
    return out


def _issue(source: str, row: int, col: str, value: object, why: str, kind: str = "value") -> Issue:
    return Issue(source, f"row {row}", col, _text(value), why, kind=kind)


def _chinese_headers() -> str:
    return ", ".join(f"{zh} {en}" for zh, en in HEADER_ALIASES.items() if en in COLUMNS and
                     zh in ("编号", "姓名", "角色", "条线", "电话", "电话公开", "社区代码", "街道代码"))


def _read_raw(path: Path) -> pd.DataFrame:
    """Every cell as text; codes keep their leading zeros."""
    if not path.exists():
        raise InvalidFile(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = decode_csv(path.read_bytes(), source=path.name)
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        if suffix == ".xlsx":
            return pd.read_excel(path, dtype=object, engine="openpyxl")
        if suffix in (".gpkg", ".geojson", ".json"):
            layer = "staff" if suffix == ".gpkg" else None
            return pd.DataFrame(pyogrio.read_dataframe(path, layer=layer, read_geometry=False))
    except UNREADABLE as exc:
        raise InvalidFile(f"{path}: cannot be read as a roster ({getattr(exc, 'detail', exc)})") from exc
    raise InvalidFile(f"{path}: unsupported roster type {suffix!r}; use one of {list(SUFFIXES)}")


def _text(value: object) -> str:
    """A cell as trimmed text; whole floats (Excel numbers) lose their '.0'."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value).strip()


def _bool(value: str) -> bool:
    return value.lower() in TRUE


def problems(rec: pd.Series | dict) -> list[tuple[str, str]]:
    """Every problem of one person as (column, why); values are text, roles and agencies already aliased."""
    rec = {c: _text(rec.get(c, "")) for c in (*COLUMNS, "party_member")}
    found = [(col, "is empty") for col in ("id", "name", "role") if rec[col] == ""]
    if rec["role"] and rec["role"] not in ROLES:
        found.append(("role", f"{rec['role']!r} is not a role; allowed: {allowed_roles()}"))
    want = OFFICER_ROLES.get(rec["role"])
    if want and rec["agency"] not in ("", want):
        found.append(("agency", f"{rec['agency']!r} does not fit role {rec['role']} (agency {want})"))
    for flag in ("phone_public", "party_member"):
        if rec[flag].lower() not in TRUE | FALSE:
            found.append((flag, f"{rec[flag]!r} is not a yes/no value (true/false, 是/否)"))
    if rec["phone"] and not PHONE.match(rec["phone"]):
        found.append(("phone", f"{rec['phone']!r} is not a phone number"))
    code = _code_problem(rec["community_code"], rec["street_code"])
    return found + ([code] if code else [])


def problem(rec: pd.Series | dict) -> tuple[str, str] | None:
    """The first problem of one person as (column, why), or None (values as given: an API edit names roles
    in English, since it stores them as sent)."""
    found = problems(rec)
    return found[0] if found else None


def check_person(person: dict) -> None:
    """Raise InvalidInput naming the field of the first problem of one person (an API edit)."""
    found = problem(person)
    if found:
        raise InvalidInput(f"{found[0]}: {found[1]}")


def _code_problem(community: str, street: str) -> tuple[str, str] | None:
    if community and not re.fullmatch(r"\d{12}", community):
        return "community_code", f"{community!r} is not a 12-digit community code"
    if street and not re.fullmatch(r"\d{9}", street):
        return "street_code", f"{street!r} is not a 9-digit street code"
    if not community and not street:
        return "community_code", "is empty and so is street_code; name one (street_code alone = street pool)"
    if community and street and community[:9] != street:
        return "street_code", f"{street!r} is not the street of community {community}"
    return None


def _duplicates(df: pd.DataFrame, source: str) -> list[Issue]:
    out = []
    ids = df["id"]
    for row in df.index[(ids != "") & ids.duplicated()]:
        first = int(df.index[ids == ids[row]][0])
        out.append(_issue(source, int(row), "id", ids[row], f"{ids[row]!r} already used in row {first}",
                          kind="duplicate"))
    return out
