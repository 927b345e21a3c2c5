"""Benchmark of a hand edit (not a test): the HTTP round trip of a move vs re-checking the whole plan.

    python bench/edits.py [--sizes 1000 10000] [--moves 200]

In one run, on a throwaway local cluster (a temp dir, a free port), for each size a synthetic
street is written in SQL: communities of 20 grids in a row, each grid a square holding two
compounds (west and east half). Then, through ``api.app.create_app`` and FastAPI's TestClient
(the ASGI app in process: routing, dependencies, JSON, one transaction per request), a compound
is moved to the next grid and back, ``--moves`` times, each with the ETag of the answer before
(``POST /v1/plans/{plan}/edits`` with ``If-Match``): incremental re-validation of the affected
grids and the answer. The baseline, in the same run: the same edit followed by the engine's rules
on every grid of the plan (``gridmap.services.editing.check``), as a whole-plan re-validation
would do. Prints p50/p99 of both and the ratio. Timings are of this machine under whatever else
it is running; read the ratios.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PER_COMMUNITY = 20
SIDE = 0.002  # degrees per grid (~200 m)
STREET = "320214050"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate(engine, grids: int, plan: str) -> list[tuple[str, str, str]]:
    """A street of ``grids`` grids in draft ``plan``; returns (compound, its grid, the next grid) to move."""
    from sqlalchemy import text

    communities = grids // PER_COMMUNITY
    with engine.begin() as conn:
        conn.execute(text("""INSERT INTO district (code, name, geom) VALUES ('320214', '新吴区',
                             ST_Multi(ST_MakeEnvelope(120, 31, 121, 32, 4490))) ON CONFLICT DO NOTHING"""))
        conn.execute(text("""INSERT INTO street (code, name, district_code, geom) VALUES (:s, '旺庄街道', '320214',
                             ST_Multi(ST_MakeEnvelope(120, 31, 121, 32, 4490))) ON CONFLICT DO NOTHING"""),
                     {"s": STREET})
        conn.execute(text("""
            WITH c AS (SELECT i, 120.1 + (i % 25) * :side * :per AS x, 31.1 + (i / 25) * :side * 1.5 AS y
                       FROM generate_series(:first, :first + :n - 1) i)
            INSERT INTO community (code, name, street_code, kind, geom)
            SELECT :s || lpad(i::text, 3, '0'), '社区' || i, :s, 'urban',
                   ST_Multi(ST_MakeEnvelope(x, y, x + :side * :per, y + :side, 4490)) FROM c"""),
                     {"side": SIDE, "per": PER_COMMUNITY, "first": _first[0], "n": communities, "s": STREET})
        conn.execute(text("INSERT INTO plan (name) VALUES (:p)"), {"p": plan})
        conn.execute(text("""
            WITH g AS (SELECT c.code AS cc, j, ST_XMin(c.geom) + j * :side AS x, ST_YMin(c.geom) AS y
                       FROM community c, generate_series(0, :per - 1) j
                       WHERE c.street_code = :s AND right(c.code, 3)::int BETWEEN :first AND :first + :n - 1)
            INSERT INTO grid (plan, code, name, community_code, households, geom)
            SELECT :p, cc || lpad((j + 1)::text, 3, '0'), '网格' || (j + 1), cc, 400,
                   ST_Multi(ST_MakeEnvelope(x, y, x + :side, y + :side, 4490)) FROM g"""),
                     {"side": SIDE, "per": PER_COMMUNITY, "s": STREET, "p": plan, "first": _first[0],
                      "n": communities})
        conn.execute(text("""
            INSERT INTO compound (id, name, community_code, households, geom)
            SELECT g.code || h, '小区' || g.code || h, g.community_code, 200,
                   ST_Multi(ST_MakeEnvelope(ST_XMin(g.geom) + (CASE h WHEN 'a' THEN 0.1 ELSE 0.55 END) * :side,
                                            ST_YMin(g.geom) + 0.1 * :side,
                                            ST_XMin(g.geom) + (CASE h WHEN 'a' THEN 0.45 ELSE 0.9 END) * :side,
                                            ST_YMin(g.geom) + 0.9 * :side, 4490))
            FROM grid g, (VALUES ('a'), ('b')) v(h) WHERE g.plan = :p"""), {"side": SIDE, "p": plan})
        conn.execute(text("""INSERT INTO grid_member (plan, grid_code, compound_id, households)
                             SELECT :p, g.code, g.code || h, 200 FROM grid g, (VALUES ('a'), ('b')) v(h)
                             WHERE g.plan = :p"""), {"p": plan})
        pairs = conn.execute(text("""SELECT g.code || 'b', g.code, left(g.code, 12) || lpad((right(g.code, 3)::int + 1)::text, 3, '0')
                                     FROM grid g WHERE g.plan = :p AND right(g.code, 3)::int < :per
                                     ORDER BY g.code"""), {"p": plan, "per": PER_COMMUNITY}).all()
    _first[0] += communities
    return [tuple(p) for p in pairs]


_first = [1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(engine, size: int, moves: int) -> dict:
    from fastapi.testclient import TestClient
    from sqlalchemy import text  # noqa: F401

    from api.app import create_app
    from gridmap.config import Settings
    from gridmap.services import editing
    from gridmap.storage.keys import create_key

    plan = f"bench{size}"
    pairs = populate(engine, size, plan)
    with engine.begin() as conn:
        key = create_key(conn, "planner")
    app = create_app(Settings(), engine=engine)
    headers = {"X-API-Key": key}
    incremental, whole = [], []
    with TestClient(app) as client:
        etag = client.get(f"/v1/plans/{plan}", headers=headers).headers["ETag"]
        for i in range(moves):
            compound, source, target = pairs[(i // 2 * 37) % len(pairs)]
            to = target if i % 2 == 0 else source
            t0 = time.perf_counter()
            r = client.post(f"/v1/plans/{plan}/edits", json={"op": "move", "compounds": [compound], "to": to},
                            headers={**headers, "If-Match": etag})
            incremental.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            etag = r.headers["ETag"]
        for i in range(max(4, moves // 20)):  # the baseline is slow: fewer samples
            compound, source, target = pairs[(i * 53) % len(pairs)]
            t0 = time.perf_counter()
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM grid_lease")  # the HTTP moves' leases; rolled back
                editing.move(conn, plan, to=target, compounds=[compound], author="bench")
                editing.check(conn, plan)
                conn.rollback()
            whole.append(time.perf_counter() - t0)
    return {"grids": size, "incremental": incremental, "whole": whole}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine

    from gridmap.storage import migrate
    from gridmap.storage.cluster import LocalCluster

    base = Path(tempfile.mkdtemp(prefix="gridmap-bench-edits-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "cluster", free_port(), durable=False)
    cluster.start()
    try:
        migrate.upgrade(cluster.url)
        engine = create_engine(cluster.url)
        results = [run(engine, size, args.moves) for size in args.sizes]
        engine.dispose()
    finally:
        cluster.destroy()
    ms = lambda xs, q: 1000 * percentile(xs, q)  # noqa: E731
    print("| grids | move round trip p50 | p99 | + whole-plan check p50 | p99 | ratio (p50) |")
    print("|------:|-----:|-----:|-----:|-----:|-----:|")
    for r in results:
        inc, whole = r["incremental"], r["whole"]
        print(f"| {r['grids']:,} | {ms(inc, .5):.1f} ms | {ms(inc, .99):.1f} ms | {ms(whole, .5):.0f} ms | "
              f"{ms(whole, .99):.0f} ms | {statistics.median(whole) / statistics.median(inc):.0f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
