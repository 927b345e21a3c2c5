"""Write layers in the interchange format (DESIGN.md §4): a GeoPackage or a folder of GeoJSON files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio

from gridmap.errors import InvalidFile


def write_interchange(layers: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write layers to a GeoPackage (``.gpkg``) or a folder of GeoJSON files."""
    path = Path(path)
    if path.suffix.lower() == ".gpkg":
        if path.exists():
            path.unlink()
        for name, df in layers.items():
            _write_one(df, path, layer=name, driver="GPKG")
    elif path.suffix == "" or path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        for name, df in layers.items():
            target = path / f"{name}.geojson"
            if target.exists():
                target.unlink()
            _write_one(df, target, layer=name, driver="GeoJSON")
    else:
        raise InvalidFile(f"{path}: export to .gpkg or to a folder (no suffix) of GeoJSON files")
    return path


def _write_one(df: pd.DataFrame, path: Path, layer: str, driver: str) -> None:
    pyogrio.write_dataframe(df, path, layer=layer, driver=driver)

