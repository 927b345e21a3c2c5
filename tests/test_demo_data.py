"""The demo district file: loads the official hierarchy and re-exports identically."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Connection, text

from gridmap.domain import ROLE_ZH, STORAGE_EPSG
from gridmap.interchange import write_interchange
from gridmap.interchange.layers import IMPORT_ORDER
from gridmap.storage.export import export_layers
from gridmap.storage.load import import_file

ROOT = Path(__file__).resolve().parent.parent


def count(conn: Connection, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_demo_file_loads_the_district(conn: Connection, demo_file: Path) -> None:
    report = import_file(conn, demo_file)
    assert report.repairs == [] or all(r.layer != "communities" for r in report.repairs)
    assert count(conn, "street") == 6
    assert count(conn, "community") == 126
    assert count(conn, "compound") >= 600
    # every compound lies in its community
    outside = conn.execute(text(
        "SELECT count(*) FROM compound k JOIN community c ON c.code = k.community_code "
        "WHERE ST_Area(ST_Difference(k.geom, c.geom)::geography) > 1")).scalar()
    assert outside == 0
    # communities tile the district: no pair overlaps by 1 m², the union is the district to 1 m²
    overlap = conn.execute(text(
        "SELECT coalesce(max(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) FROM community a "
        "JOIN community b ON a.code < b.code AND ST_Intersects(a.geom, b.geom)")).scalar()
    assert overlap < 1.0
    gap = conn.execute(text(
        "SELECT ST_Area(ST_SymDifference(d.geom, (SELECT ST_Union(geom) FROM community))::geography) "
        "FROM district d")).scalar()
    assert gap < 1.0


def test_demo_export_reimports_identically(conn: Connection, demo_file: Path, tmp_path: Path) -> None:
    import_file(conn, demo_file)
    before = {t: count(conn, t) for t in ("compound", "building", "address", "staff", "barrier")}
    out = write_interchange(export_layers(conn), tmp_path / "export.gpkg")
    again = import_file(conn, out)
    assert again.changed() == 0, {k: v for k, v in again.layers.items() if v.inserted or v.updated}
    assert {t: count(conn, t) for t in before} == before


def test_tunxi_file_loads_too(conn: Connection, demo_file: Path) -> None:
    tunxi = demo_file.with_name("tunxi.gpkg")
    import_file(conn, tunxi)
    assert count(conn, "district") == 1
    assert conn.execute(text("SELECT count(*) FROM community WHERE left(code, 6) = '341002'")).scalar() == 76


def test_demo_builder_reads_the_vocabulary() -> None:
    """data/boundaries/build.py runs as a script from the repo root and takes the storage CRS,
    the role names and the layer order from the package."""
    out = subprocess.run([sys.executable, "data/boundaries/build.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--district" in out.stdout, out.stderr
    build = runpy.run_path(str(ROOT / "data/boundaries/build.py"))
    assert build["STORAGE_EPSG"] == STORAGE_EPSG and build["ROLE_ZH"] is ROLE_ZH
    assert build["LAYER_ORDER"][:-1] == tuple(n for n in IMPORT_ORDER if n != "grids")
    assert build["LAYER_ORDER"][-1] == "party_orgs"
