"""Import and export against a real PostGIS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box
from sqlalchemy import Connection, text

from gridmap.crs import from_cgcs2000
from gridmap.errors import InvalidBoundary, InvalidFile, UnknownCRS
from gridmap.interchange import read_interchange, write_interchange
from gridmap.storage.export import export_layers
from gridmap.storage.load import import_file
from tests.tiny import tiny_layers, write_tiny

TABLES = ("district", "street", "community", "compound", "building", "address", "staff", "barrier")


def counts(conn: Connection) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def test_import_tiny_then_again_changes_nothing(conn: Connection, tmp_path: Path) -> None:
    path = write_tiny(tmp_path / "tiny.gpkg")
    first = import_file(conn, path)
    assert first.layers["compounds"].inserted == 3
    assert counts(conn)["compound"] == 3
    second = import_file(conn, path)
    assert second.changed() == 0
    assert second.layers["compounds"].unchanged == 3


def test_extra_columns_are_kept(conn: Connection, tmp_path: Path) -> None:
    import_file(conn, write_tiny(tmp_path / "tiny.gpkg"))
    attrs = conn.execute(text("SELECT attrs FROM compound WHERE id = 'C1'")).scalar()
    assert attrs["provenance"] == "synthetic: test"


def test_dry_run_writes_nothing(conn: Connection, tmp_path: Path) -> None:
    report = import_file(conn, write_tiny(tmp_path / "tiny.gpkg"), commit=False)
    assert report.layers["compounds"].inserted == 3
    assert counts(conn)["compound"] == 0


def test_geojson_folder_round_trip(conn: Connection, tmp_path: Path) -> None:
    import_file(conn, write_tiny(tmp_path / "in"))
    layers = export_layers(conn)
    write_interchange(layers, tmp_path / "out")
    again = import_file(conn, tmp_path / "out")
    assert again.changed() == 0


def _refused(conn: Connection, path: Path, exc_type: type, words: tuple[str, ...], crs: str | None = None):
    before = counts(conn)
    with pytest.raises(exc_type) as info:
        import_file(conn, path, crs=crs)
    for word in words:
        assert word in info.value.detail
    assert counts(conn) == before, "a refused import must write nothing"
    return info.value


def test_unrepairable_polygon_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    bowtie = Polygon([(120.301, 31.501), (120.303, 31.503), (120.303, 31.501), (120.301, 31.503)])
    layers["compounds"].loc[1, "geometry"] = bowtie
    _refused(conn, write_tiny(tmp_path / "bad.gpkg", layers), InvalidBoundary, ("compounds", "C2"))


def test_repairable_polygon_is_repaired_and_listed(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    # a shell with a zero-width spike: invalid, but make_valid keeps the area
    spiky = Polygon([(120.305, 31.501), (120.309, 31.501), (120.309, 31.504), (120.307, 31.504),
                     (120.307, 31.5045), (120.307, 31.504), (120.305, 31.504)])
    assert not spiky.is_valid
    layers["compounds"].loc[1, "geometry"] = spiky
    report = import_file(conn, write_tiny(tmp_path / "spike.gpkg", layers))
    assert [(r.layer, r.feature) for r in report.repairs] == [("compounds", "C2")]
    assert conn.execute(text("SELECT ST_IsValid(geom) FROM compound WHERE id = 'C2'")).scalar()


def test_unknown_crs_and_missing_crs_are_refused(conn: Connection, tmp_path: Path) -> None:
    path = write_tiny(tmp_path / "tiny.gpkg")
    _refused(conn, path, UnknownCRS, ("mars2000",), crs="mars2000")
    layers = {k: (v.set_crs(None, allow_override=True) if isinstance(v, gpd.GeoDataFrame) else v)
              for k, v in tiny_layers().items()}
    _refused(conn, write_tiny(tmp_path / "nocrs.gpkg", layers), UnknownCRS, ("no CRS", "--crs"))


def test_missing_column_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["compounds"] = layers["compounds"].drop(columns="households")
    _refused(conn, write_tiny(tmp_path / "nohh.gpkg", layers), InvalidFile, ("compounds", "households"))


def test_missing_layer_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    del layers["communities"]
    _refused(conn, write_tiny(tmp_path / "nocomm.gpkg", layers), InvalidFile, ("compounds", "communit"))


def test_compound_outside_every_community_is_refused(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["compounds"].loc[2, "geometry"] = box(120.40, 31.60, 120.41, 31.61)
    _refused(conn, write_tiny(tmp_path / "out.gpkg", layers), InvalidFile, ("C3", "outside"))


def test_dangling_reference_is_refused_by_the_database(conn: Connection, tmp_path: Path) -> None:
    layers = tiny_layers()
    layers["buildings"].loc[1, "compound_id"] = "NOPE"
    _refused(conn, write_tiny(tmp_path / "dangling.gpkg", layers), InvalidFile, ("buildings", "NOPE"))


def test_gcj02_input_lands_on_the_right_polygon(conn: Connection, tmp_path: Path) -> None:
    """A compound drawn on an Amap (GCJ-02) basemap is shifted back by some hundred metres."""
    layers = tiny_layers()
    for name, df in layers.items():
        if isinstance(df, gpd.GeoDataFrame):
            df.geometry = df.geometry.map(_to_gcj02)
    path = write_tiny(tmp_path / "gcj", layers)
    import_file(conn, path, crs="gcj02")
    inside = conn.execute(text(
        "SELECT c.id FROM compound c WHERE ST_Covers(c.geom, ST_SetSRID(ST_Point(120.3025, 31.5025), 4490))"
    )).scalars().all()
    assert inside == ["C1"]
    shift = conn.execute(text(
        "SELECT ST_Distance(ST_Centroid(geom)::geography, ST_SetSRID(ST_Point(120.3025, 31.5025), 4490)::geography)"
        " FROM compound WHERE id = 'C1'")).scalar()
    assert shift < 1.0


def _to_gcj02(geom):
    import shapely

    return shapely.transform(geom, lambda xy: _stack(*from_cgcs2000(xy[:, 0], xy[:, 1], "gcj02")))


def _stack(x, y):
    import numpy as np

    return np.column_stack([x, y])


def test_read_interchange_reports_unknown_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidFile, match="no such file"):
        read_interchange(tmp_path / "missing.gpkg")
