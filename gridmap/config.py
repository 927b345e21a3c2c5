"""Settings, read from the environment (prefix ``GRIDMAP_``).

Only the CLI and ``api/`` build a :class:`Settings`; the core and storage
receive plain values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``GRIDMAP_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of an existing PostGIS; unset = local cluster"
    )
    data_dir: Path = Field(default=Path(".gridmap"), description="local cluster and caches")
    pg_port: int = Field(default=54329, description="port of the local cluster on 127.0.0.1")
    edge_distance_m: float = Field(default=30.0, description="lookup edge warning distance")
    max_batch_rows: int = Field(default=100_000)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30,
                                 description="a browser session (POST /v1/session) lasts this long")
    tiles: str = Field(default="openstreetmap", description="map tiles: openstreetmap | none | amap")
    building_tolerance_m: float = Field(
        default=150.0, ge=0, description="import: a building (or address) this far outside its compound is "
        "accepted with a warning; farther is refused")
    boundary_tolerance_m2: float = Field(
        default=1.0, ge=0, description="import: communities may overlap, or leave their street, by this much")
