"""Benchmark of events (not a test): a simulated year at Tunxi's scale on the demo district.

    python bench/events.py [--events 80000] [--creates 1000]

On a throwaway local cluster: the demo imported, street 320214050 partitioned, staffed and published;
then (a) ``--creates`` events reported through :func:`gridmap.services.events.create` (the coverage
service's in-memory index, duplicates check, routing, due time, two transition rows), against the
baseline of the bare coverage lookup of the same points; (b) a year of ``--events`` events inserted in
bulk with the catalogue's category mix (some late, some reopened, ~8 % still open); (c) one timer pass
over all open events; (d) the stats query overall, by grid and by month. Prints p50/p99 and ratios.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEMO = ROOT / "data" / "boundaries" / "xinwu.gpkg"
STREET = "320214050"
#: A category mix in the spirit of the reports (sanitation and vending most common).
MIX = {"sanitation": 0.22, "street_vending": 0.18, "facility_damage": 0.14, "neighbour_dispute": 0.12,
       "noise": 0.1, "illegal_construction": 0.08, "public_security": 0.06, "food_safety": 0.04,
       "price_fraud": 0.02, "other": 0.04}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float]) -> tuple[float, float]:
    a = np.array(values) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=80_000)
    ap.add_argument("--creates", type=int, default=1000)
    args = ap.parse_args()

    from sqlalchemy import create_engine, text

    from gridmap.events.calendar import CST
    from gridmap.services import events as service
    from gridmap.services.coverage import Cached, CoverageCache, Query, lookup
    from gridmap.services.workflows import assign_scope, partition_plan
    from gridmap.storage import migrate, plans
    from gridmap.storage import events as store
    from gridmap.storage.cluster import LocalCluster
    from gridmap.storage.load import import_file

    base = Path(tempfile.mkdtemp(prefix="gridmap-bench-events-"))
    cluster = LocalCluster(base / "cluster", free_port(), durable=False)
    cluster.start()
    try:
        migrate.upgrade(cluster.url)
        engine = create_engine(cluster.url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            import_file(conn, DEMO)
            partition_plan(conn, "street", STREET, "bench", workers=1)
            assign_scope(conn, "street", STREET, plan="bench", time_limit=5.0)
            plans.publish(conn, "bench", force=True, reason="bench: a benchmark plan, not reviewed")
        print(f"setup (import, partition, staff, publish): {time.perf_counter() - t0:.1f} s")
        with engine.begin() as conn:
            pts = conn.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(k.geom, 20))).geom p
                FROM compound k JOIN community c ON c.code = k.community_code WHERE c.street_code = :s) x"""),
                               {"s": STREET}).all()
        rng = np.random.default_rng(14)
        pts = [(float(x), float(y)) for x, y in pts]
        codes, weights = list(MIX), np.array(list(MIX.values())) / sum(MIX.values())

        # (a) creation + routing vs the bare lookup, one connection per call as the API does
        cache = CoverageCache()
        source = Cached(cache, engine.begin)
        lookup(source, Query(lon=pts[0][0], lat=pts[0][1], crs="cgcs2000"), role="admin")  # warm the index
        bare, create = [], []
        picks = rng.choice(len(pts), size=args.creates)
        for k in picks:
            lon, lat = pts[k]
            t = time.perf_counter()
            lookup(source, Query(lon=lon, lat=lat, crs="cgcs2000"), role="admin")
            bare.append(time.perf_counter() - t)
        for n, k in enumerate(picks):
            lon, lat = pts[k]
            body = {"category": str(rng.choice(codes, p=weights)), "description": f"bench {n}", "lon": lon,
                    "lat": lat, "crs": "cgcs2000"}
            t = time.perf_counter()
            with engine.begin() as conn:
                service.create(conn, source, body, role="dispatcher", actor="bench")
            create.append(time.perf_counter() - t)

        # (b) a simulated year in bulk
        with engine.begin() as conn:
            version, found = store.catalogue(conn)
            cats = {r["code"]: r for r in found}
            grids = conn.execute(text("SELECT code, community_code FROM grid WHERE plan = 'bench'")).all()
            street_of = dict(conn.execute(text("SELECT code, street_code FROM community")).all())
            cal = service.work_calendar(conn)
        start = datetime(2026, 1, 1, tzinfo=CST)
        now = service.now_utc()
        records = []
        cat_pick = rng.choice(codes, size=args.events, p=weights)
        grid_pick = rng.integers(0, len(grids), size=args.events)
        pt_pick = rng.integers(0, len(pts), size=args.events)
        offsets = np.sort(rng.uniform(0, (now - start).total_seconds() - 86_400, size=args.events))
        for i in range(args.events):
            code = str(cat_pick[i])
            reported = start + timedelta(seconds=float(offsets[i]))
            due = cal.add_working_days(reported, cats[code]["limit_working_days"])
            late = rng.random() < 0.06
            still_open = rng.random() < 0.08 and (now - reported).days < 20
            closed = None if still_open else due + timedelta(hours=float(rng.uniform(1, 48))) if late \
                else reported + (due - reported) * float(rng.uniform(0.1, 0.95))
            g = grids[grid_pick[i]]
            records.append({"category": code, "catalogue_version": version, "description": "year", "channel": "hotline",
                            "status": "in_progress" if still_open else "closed", "reported_at": reported,
                            "dispatched_at": reported, "due_at": due, "closed_at": closed,
                            "closed_on_time": None if closed is None else closed <= due,
                            "reopened": int(rng.random() < 0.02), "satisfaction": int(rng.integers(3, 6)),
                            "plan": "bench", "grid_code": g[0], "community_code": g[1], "street_code": street_of[g[1]],
                            "assignee": {"id": None, "name": "bench"}, "location": {}, "reporters": [], "photos": [],
                            "lon": pts[pt_pick[i]][0], "lat": pts[pt_pick[i]][1]})
        t = time.perf_counter()
        with engine.begin() as conn:
            for s in range(0, len(records), 10_000):
                store.insert_events(conn, records[s:s + 10_000])
            conn.execute(text("ANALYZE event"))
        insert_s = time.perf_counter() - t

        # (c) one timer pass, (d) stats
        with engine.begin() as conn:
            n_open = conn.execute(text("SELECT count(*) FROM event WHERE status NOT IN ('closed','visited','duplicate')")
                                  ).scalar()
            t = time.perf_counter()
            ticked = service.tick(conn)
            tick_s = time.perf_counter() - t
            timings = {}
            for by in (None, "grid", "month", "category"):
                best = []
                for _ in range(3):
                    t = time.perf_counter()
                    out = service.statistics(conn, by=by)
                    best.append(time.perf_counter() - t)
                timings[by or "total"] = min(best)
            total = out["total"]
        c50, c99 = pct(create)
        b50, b99 = pct(bare)
        print(f"\nevents: {total} in the table ({args.events} simulated + {args.creates} created), {n_open} open")
        print("| measure | value | vs baseline |")
        print("|---|---|---|")
        print(f"| bare coverage lookup p50 / p99 (baseline) | {b50:.2f} / {b99:.2f} ms | 1.0 |")
        print(f"| create + routing p50 / p99 | {c50:.2f} / {c99:.2f} ms | {c50 / b50:.1f}x / {c99 / b99:.1f}x |")
        print(f"| bulk insert of {args.events} events | {insert_s:.1f} s | |")
        print(f"| one timer pass over {n_open} open events | {tick_s * 1000:.0f} ms "
              f"({ticked['escalated']} escalated, {ticked['warned']} warned) | |")
        for k, v in timings.items():
            print(f"| stats {k} | {v * 1000:.0f} ms | {v / timings['total']:.1f}x of total |")
        engine.dispose()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
