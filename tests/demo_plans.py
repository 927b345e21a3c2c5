"""Demo-district set-ups shared by the *_demo tests, each in one transaction the caller rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back when the block ends."""
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


def publish_street(conn: Connection, demo_file: Path, *, street: str, plan: str) -> None:
    """The demo imported, ``street`` partitioned by the engine into ``plan``, staffed, approved, published."""
    from gridmap.services.workflows import assign_scope, partition_plan
    from gridmap.storage import plans
    from gridmap.storage.load import import_file
    from tests.review import approve

    import_file(conn, demo_file)
    partition_plan(conn, "street", street, plan, workers=1)
    assign_scope(conn, "street", street, plan=plan, time_limit=5.0)
    approve(conn, plan)
    plans.publish(conn, plan)


def write_grid_per_community(conn: Connection, plan: str):
    """Draft ``plan`` with one grid per community of what is imported (code = community code + 001);
    returns the households per community."""
    from gridmap.storage.export import read_layer
    from gridmap.storage.grids import write_plan

    comm = read_layer(conn, "communities")
    comps = read_layer(conn, "compounds")
    hh = comps.groupby("community_code")["households"].sum()
    grids = comm.assign(code=comm["code"] + "001", community_code=comm["code"], name=comm["name"] + "网格",
                        households=comm["code"].map(hh).fillna(0).astype(int))
    members = comps.assign(grid_code=comps["community_code"] + "001", compound_id=comps["id"], building_id=None)
    write_plan(conn, plan, grids[["code", "name", "community_code", "households", "geometry"]],
               members[["grid_code", "compound_id", "building_id", "households"]], list(comm["code"]), {})
    return hh
