"""The only package that talks to PostGIS (SQLAlchemy 2 + GeoAlchemy2 + psycopg2)."""

from gridmap.storage.db import connect_url, make_engine

__all__ = ["connect_url", "make_engine"]
