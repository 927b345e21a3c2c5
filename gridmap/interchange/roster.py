"""Read and check a staff roster (花名册) from CSV, XLSX or an interchange staff layer (pure).

The columns are those of the interchange ``staff`` layer (DESIGN.md §4):
id, name, role, agency, phone, phone_public, community_code, street_code;
extra columns (party_member, building_id, grid_code, ...) are kept and
stored as attributes. An officer role with no agency gets its own
(community_police → police, ...). Errors name the row as a spreadsheet shows it (the
header is row 1, the first person row 2) and the column.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
from openpyxl.utils.exceptions import InvalidFileException
from pyogrio.errors import DataLayerError, DataSourceError

from gridmap.errors import InvalidFile, InvalidInput
from gridmap.domain import ROLES

COLUMNS = ("id", "name", "role", "agency", "phone", "phone_public", "community_code", "street_code")
REQUIRED = ("id", "name", "role", "phone_public")
SUFFIXES = (".csv", ".xlsx", ".gpkg", ".geojson", ".json")
TRUE = frozenset({"true", "1", "yes", "y", "t", "是"})
FALSE = frozenset({"false", "0", "no", "n", "f", "否", ""})
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{2,30}$")
#: Roles whose holders act as enforcement officers and so must name their agency.
OFFICER_ROLES = {"community_police": "police", "urban_management": "urban_management",
                 "market_regulation": "market_regulation"}
FIRST_ROW = 2  # spreadsheet row of the first person (row 1 is the header)
UNREADABLE = (ValueError, OSError, KeyError, zipfile.BadZipFile, InvalidFileException, DataSourceError,
              DataLayerError)


def read_roster(path: str | Path) -> pd.DataFrame:
    """The checked roster of ``path``: one row per person, indexed by spreadsheet row number.

    Raises InvalidFile naming the row and column of the first problem.
    """
    path = Path(path)
    raw = _read_raw(path)
    return check_roster(raw, source=path.name)


def check_roster(raw: pd.DataFrame, source: str = "roster") -> pd.DataFrame:
    """Check and tidy a roster read as text; the index becomes the spreadsheet row number."""
    raw = raw.rename(columns=lambda c: str(c).strip())
    missing = [c for c in (*REQUIRED, "community_code") if c not in raw.columns]
    if missing:
        raise InvalidFile(f"{source}: missing column(s) {missing}; required: {list(COLUMNS)}")
    df = raw.map(_text).copy()
    df.index = pd.RangeIndex(FIRST_ROW, FIRST_ROW + len(df), name="row")
    df = df[~(df == "").all(axis=1)]  # blank spreadsheet lines
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = ""
    for row, rec in df.iterrows():
        _check_row(int(row), rec, source)
    _check_unique(df, source)
    officer = df["role"].map(OFFICER_ROLES).fillna("")
    df["agency"] = df["agency"].where(df["agency"] != "", officer)
    df["phone_public"] = [_bool(v) for v in df["phone_public"]]
    if "party_member" in df.columns:
        df["party_member"] = [None if v == "" else _bool(v) for v in df["party_member"]]
    return df[[*COLUMNS, *[c for c in df.columns if c not in COLUMNS]]]


def check_references(roster: pd.DataFrame, communities: set[str], streets: set[str], source: str = "roster") -> None:
    """Every community_code and street_code names a stored community or street."""
    for col, known in (("community_code", communities), ("street_code", streets)):
        bad = roster[(roster[col] != "") & ~roster[col].isin(known)]
        if len(bad):
            row = int(bad.index[0])
            raise InvalidFile(
                f"{source}: row {row}, column {col}: {bad[col].iloc[0]!r} is not a stored "
                f"{col.split('_')[0]}; import its boundary first"
            )


def _read_raw(path: Path) -> pd.DataFrame:
    """Every cell as text; codes keep their leading zeros."""
    if not path.exists():
        raise InvalidFile(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if suffix == ".xlsx":
            return pd.read_excel(path, dtype=object, engine="openpyxl")
        if suffix in (".gpkg", ".geojson", ".json"):
            layer = "staff" if suffix == ".gpkg" else None
            return pd.DataFrame(pyogrio.read_dataframe(path, layer=layer, read_geometry=False))
    except UNREADABLE as exc:
        raise InvalidFile(f"{path}: cannot be read as a roster ({exc})") from exc
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


def problem(rec: pd.Series | dict) -> tuple[str, str] | None:
    """The first problem of one person as (column, why), or None; values are text."""
    rec = {c: _text(rec.get(c, "")) for c in (*COLUMNS, "party_member")}
    for col in ("id", "name", "role"):
        if rec[col] == "":
            return col, "is empty"
    if rec["role"] not in ROLES:
        return "role", f"{rec['role']!r} is not a role; allowed: {list(ROLES)}"
    want = OFFICER_ROLES.get(rec["role"])
    if want and rec["agency"] not in ("", want):
        return "agency", f"{rec['agency']!r} does not fit role {rec['role']} (agency {want})"
    for flag in ("phone_public", "party_member"):
        if rec[flag].lower() not in TRUE | FALSE:
            return flag, f"{rec[flag]!r} is not true/false"
    if rec["phone"] and not PHONE.match(rec["phone"]):
        return "phone", f"{rec['phone']!r} is not a phone number"
    return _code_problem(rec["community_code"], rec["street_code"])


def check_person(person: dict) -> None:
    """Raise InvalidInput naming the field of the first problem of one person (an API edit)."""
    found = problem(person)
    if found:
        raise InvalidInput(f"{found[0]}: {found[1]}")


def _check_row(row: int, rec: pd.Series, source: str) -> None:
    found = problem(rec)
    if found:
        raise InvalidFile(f"{source}: row {row}, column {found[0]}: {found[1]}")


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


def _check_unique(df: pd.DataFrame, source: str) -> None:
    dup = df["id"].duplicated()
    if dup.any():
        row = int(df.index[dup][0])
        first = int(df.index[(df["id"] == df.loc[row, "id"])][0])
        raise InvalidFile(f"{source}: row {row}, column id: {df.loc[row, 'id']!r} already used in row {first}")
