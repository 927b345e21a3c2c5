"""Column names in shapefiles (pure): DBF keeps at most 10 characters, so long names get fixed aliases.

``community_code`` cannot be a DBF field; a shapefile calls it ``comm_code``.
:data:`SHAPEFILE_COLUMNS` is the documented table (docs/interchange.md):
the exporter renames with it, and the importer renames back whatever the
source format, as long as the long name is not already a column. Any other
column longer than 10 characters gets a generated alias, recorded in a
``<layer>.columns.csv`` file beside the shapefile so that the importer
restores it too.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from gridmap.interchange.text import CSV_ENCODING, decode_csv

DBF_NAME_LIMIT = 10

#: Interchange (and demo-data) column → its 10-character shapefile alias.
SHAPEFILE_COLUMNS = {
    "district_code": "dist_code",
    "street_code": "strt_code",
    "community_code": "comm_code",
    "compound_id": "cmpd_id",
    "building_id": "bldg_id",
    "phone_public": "phone_pub",
    "party_member": "party_mem",
    "secretary_staff_id": "secy_staff",
    "compound_name": "cmpd_name",
    "building_no": "bldg_no",
    "door_number": "door_no",
    "n_communities": "n_comms",
    "n_compounds": "n_cmpds",
    "stat_unit_code": "stat_code",
    "stat_unit_name": "stat_name",
    "staffing_note": "staff_note",
    "source_parcel": "src_parcel",
    "boundary_distance_m": "bound_m",
}
_LONG = {alias: name for name, alias in SHAPEFILE_COLUMNS.items()}


def sidecar(shapefile: Path) -> Path:
    """Where the generated aliases of one shapefile are recorded."""
    return shapefile.with_name(f"{shapefile.stem}.columns.csv")


def short_names(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``df`` with DBF-safe column names, and the generated aliases (alias → name) not in the table."""
    taken = {c for c in df.columns if len(str(c)) <= DBF_NAME_LIMIT}
    rename: dict[str, str] = {}
    generated: dict[str, str] = {}
    for col in df.columns:
        name = str(col)
        if name == "geometry" or len(name) <= DBF_NAME_LIMIT:
            continue
        alias = SHAPEFILE_COLUMNS.get(name)
        if alias is None or alias in taken:
            alias = _generated(name, taken)
            generated[alias] = name
        taken.add(alias)
        rename[col] = alias
    return df.rename(columns=rename), generated


def _generated(name: str, taken: set[str]) -> str:
    for k in range(1, 100):
        alias = f"{name[:DBF_NAME_LIMIT - 3]}_{k:02d}"
        if alias not in taken:
            return alias
    raise ValueError(f"no free shapefile alias for column {name!r}")  # 99 columns sharing 7 letters


def long_names(df: pd.DataFrame, generated: dict[str, str] | None = None) -> pd.DataFrame:
    """Undo :func:`short_names`: documented aliases and ``generated`` ones back to their names.

    An alias is renamed only when its long name is not already a column, so a
    file that has both keeps both.
    """
    table = {**_LONG, **(generated or {})}
    rename = {c: table[c] for c in df.columns if c in table and table[c] not in df.columns}
    return df.rename(columns=rename)


def write_sidecar(path: Path, generated: dict[str, str]) -> None:
    """Record generated aliases beside a shapefile (nothing when there are none)."""
    target = sidecar(path)
    if not generated:
        target.unlink(missing_ok=True)
        return
    with target.open("w", newline="", encoding=CSV_ENCODING) as fh:
        writer = csv.writer(fh)
        writer.writerow(["alias", "column"])
        writer.writerows(sorted(generated.items()))


def read_sidecar(path: Path) -> dict[str, str]:
    """The generated aliases recorded beside a shapefile ({} when there is no record)."""
    target = sidecar(path)
    if not target.exists():
        return {}
    rows = csv.DictReader(io.StringIO(decode_csv(target.read_bytes(), source=str(target))))
    return {r["alias"]: r["column"] for r in rows if r.get("alias") and r.get("column")}
