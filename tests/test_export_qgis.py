"""Export for QGIS: one geometry type per layer, grid_members and grid_staff, integer fields, shapefiles.

Every exported file re-imports with no change, whatever the format.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString, MultiPolygon, box
from sqlalchemy import Connection, text

from gridmap.interchange import read_interchange, write_interchange
from gridmap.interchange.shapefile import SHAPEFILE_COLUMNS
from gridmap.interchange.write import split_by_geometry, tidy_types
from gridmap.storage.export import export_layers
from gridmap.storage.load import import_file
from tests.test_staffing import compounds, staffed
from tests.tiny import tiny_layers, write_tiny


def barriers() -> gpd.GeoDataFrame:
    """A road (line), a river (polygon) and a wall without a class: mixed geometry kinds."""
    return gpd.GeoDataFrame([
        {"kind": "road", "class": "primary", "name": "长江路", "geometry": LineString([(120.30, 31.505), (120.32, 31.505)])},
        {"kind": "water", "class": "river", "name": "伯渎港", "geometry": box(120.3095, 31.50, 120.3105, 31.51)},
        {"kind": "wall", "class": None, "name": None, "geometry": LineString([(120.301, 31.5005), (120.304, 31.5005)])},
    ], crs=4490)


def with_extras(compounds: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Extra attributes a planner's file has: an integer missing on some rows, a long column name."""
    compounds = compounds.copy()
    compounds["floors"] = pd.array([6 if i % 3 else None for i in range(len(compounds))], dtype="Int64")
    compounds["management_company"] = [f"物业{i}" if i % 2 else None for i in range(len(compounds))]
    return compounds


@pytest.fixture
def exported(conn: Connection, tmp_path: Path) -> dict[str, pd.DataFrame]:
    """The staffed tiny district with extras; the layers export_layers gives for plan p1."""
    staffed(conn)
    import_file(conn, write_tiny(tmp_path / "extras.gpkg", {"compounds": with_extras(compounds()),
                                                            "barriers": barriers()}))
    return export_layers(conn, plan="p1")


def test_grid_members_and_grid_staff_are_exported(conn: Connection, exported: dict) -> None:
    members = exported["grid_members"]
    assert list(members.columns) == ["compound_id", "building_id", "grid_code", "households"]
    stored = conn.execute(text("SELECT count(*), sum(households) FROM grid_member WHERE plan = 'p1'")).one()
    assert (len(members), int(members["households"].sum())) == tuple(stored)
    staff = exported["grid_staff"]
    assert {"grid_code", "role", "role_zh", "name", "phone"} <= set(staff.columns)
    heads = staff[staff["role"] == "grid_head"]
    assert set(heads["grid_code"]) == set(exported["grids"]["code"])
    assert set(staff.loc[staff["role"] == "community_police", "role_zh"]) == {"社区民警"}
    private = staff[~staff["phone_public"].astype(bool)]
    assert len(private) and private["phone"].isna().all(), "private phones need --private"
    assert staff.loc[staff["phone_public"].astype(bool), "phone"].notna().all()
    full = export_layers(conn, plan="p1", private=True)["grid_staff"]
    assert full["phone"].notna().all()


def test_every_layer_has_one_geometry_type_and_integers_stay_integer(exported: dict, tmp_path: Path) -> None:
    path = write_interchange(exported, tmp_path / "qgis.gpkg")
    kinds = dict(pyogrio.list_layers(path))
    assert "barriers" not in kinds
    assert kinds["barriers_lines"] == "MultiLineString" and kinds["barriers_polygons"] == "MultiPolygon"
    assert kinds["grid_members"] is None and kinds["grid_staff"] is None
    assert None not in {kinds[k] for k in kinds if k not in ("staff", "party_orgs", "grid_members", "grid_staff")}
    assert "Unknown" not in kinds.values()

    def field_types(layer: str) -> dict[str, str]:
        info = pyogrio.read_info(path, layer=layer)
        return dict(zip(info["fields"], info["dtypes"]))

    for layer in ("compounds", "buildings", "grids", "grid_members"):
        assert field_types(layer)["households"] == "int64", layer
    assert field_types("compounds")["floors"] == "int64"  # missing on every third compound
    assert field_types("staff")["phone_public"] == "bool"


def test_export_reimports_with_no_change_in_every_format(conn: Connection, exported: dict, tmp_path: Path) -> None:
    for fmt, target in (("gpkg", tmp_path / "out.gpkg"), ("geojson", tmp_path / "geojson"),
                        ("shp", tmp_path / "shp")):
        path = write_interchange(exported, target, format=fmt)
        again = import_file(conn, path)
        assert again.changed() == 0, (fmt, {k: v for k, v in again.layers.items() if v.inserted or v.updated})
        assert again.layers["barriers"].unchanged == 3, fmt


def test_shapefiles_use_the_documented_aliases(exported: dict, tmp_path: Path) -> None:
    folder = write_interchange(exported, tmp_path / "shp", format="shp")
    fields = pyogrio.read_info(folder / "compounds.shp")["fields"]
    assert "comm_code" in fields and all(len(f) <= 10 for f in fields)
    assert "phone_pub" in pyogrio.read_info(folder / "staff.dbf")["fields"]
    assert "cmpd_id" in pyogrio.read_info(folder / "buildings.shp")["fields"]
    # a column the table does not know gets a generated alias, recorded beside the shapefile
    assert "managem_01" in fields
    assert "managem_01,management_company" in (folder / "compounds.columns.csv").read_text(encoding="utf-8-sig")
    back = read_interchange(folder).layers["compounds"]
    assert {"community_code", "management_company"} <= set(back.columns)
    assert all(len(alias) <= 10 for alias in SHAPEFILE_COLUMNS.values())


def test_hand_made_shapefiles_with_aliases_import(conn: Connection, tmp_path: Path) -> None:
    """A planner's own shapefiles, made in QGIS with the 10-character names of docs/interchange.md."""
    folder = tmp_path / "planner"
    folder.mkdir()
    for name, df in tiny_layers().items():
        short = df.rename(columns={k: v for k, v in SHAPEFILE_COLUMNS.items() if k in df.columns})
        if isinstance(short, gpd.GeoDataFrame):
            short.to_file(folder / f"{name}.shp", encoding="UTF-8")
        else:
            short.to_csv(folder / f"{name}.csv", index=False, encoding="gbk")
    report = import_file(conn, folder)
    assert report.layers["compounds"].inserted == 3 and report.layers["staff"].inserted == 1
    assert conn.execute(text("SELECT community_code FROM compound WHERE id = 'C3'")).scalar() == "320214050002"


def test_demo_round_trips_through_shapefiles(conn: Connection, demo_file: Path, tmp_path: Path) -> None:
    import_file(conn, demo_file)
    folder = write_interchange(export_layers(conn), tmp_path / "xinwu", format="shp")
    assert (folder / "barriers_lines.shp").exists() and (folder / "barriers_polygons.shp").exists()
    again = import_file(conn, folder)
    assert again.changed() == 0, {k: v for k, v in again.layers.items() if v.inserted or v.updated}


def test_split_by_geometry_and_tidy_types() -> None:
    mixed = barriers()
    parts = split_by_geometry("barriers", mixed)
    assert {k: len(v) for k, v in parts.items()} == {"barriers_lines": 2, "barriers_polygons": 1}
    buildings = tiny_layers()["buildings"]
    assert list(split_by_geometry("buildings", buildings)) == ["buildings"]
    polygons = gpd.GeoDataFrame({"geometry": [box(0, 0, 1, 1), MultiPolygon([box(2, 2, 3, 3)])]}, crs=4490)
    assert list(split_by_geometry("compounds", polygons)) == ["compounds"]
    df = tidy_types(pd.DataFrame({"n": [1, None, 3], "ok": [True, None, False], "x": [1, 2.5, None],
                                  "s": ["a", None, "b"]}, dtype=object))
    assert str(df["n"].dtype) == "Int64" and str(df["ok"].dtype) == "boolean"
    assert df["x"].dtype == "float64" and df["s"].dtype == object
