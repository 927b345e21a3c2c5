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
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="largest request body (413 above)")
    rate_limits: bool = Field(default=True, description="per-key and per-address rate limits on (429 above)")
    anonymous_rate: float = Field(default=10.0, gt=0, description="requests/s per client address without a key")
    anonymous_burst: int = Field(default=50, gt=0, description="burst allowed per client address without a key")
    key_rate: float = Field(default=200.0, gt=0, description="requests/s per API key")
    key_burst: int = Field(default=1000, gt=0, description="burst allowed per API key")
    db_pool_size: int = Field(default=10, gt=0, description="database connections kept per worker")
    db_max_overflow: int = Field(default=10, ge=0, description="extra database connections per worker")
    db_pool_timeout_s: float = Field(default=5.0, gt=0, description="wait for a pooled connection (503 after)")
    db_wait_s: float = Field(default=10.0, gt=0, description="wait of a request for a database slot (503 after)")
    event_tick_seconds: float = Field(
        default=60.0, ge=0, description="events: how often `gridmap serve` runs the timer (warnings, overdue "
        "escalation); 0 turns it off (then run `gridmap events tick` from cron)")
    event_warning_hours: float = Field(default=4.0, ge=0, description="events: warn this long before a limit ends")
    event_duplicate_m: float = Field(default=50.0, ge=0, description="events: a report of the same category this "
                                     "near an open one is its duplicate")
    event_duplicate_hours: float = Field(default=72.0, ge=0, description="events: ... and this recent")
    event_escalation_working_days: int = Field(default=1, ge=1, description="events: the time limit at each "
                                               "level an overdue event is escalated to")
