"""Benchmark of coverage lookup (not a test): PostGIS vs a minimal endpoint vs the full answer; batch vs STRtree.

    python bench/lookup.py [--side 316] [--requests 3000] [--seconds 15] [--points 1000000] [--only-workers]

In one run, on a throwaway local cluster (a temp dir, a free port):

* data: the demo district ``data/boundaries/xinwu.gpkg`` if present, with
  grids made by a SIMPLE SPLIT (each community cut by a ~500 m lattice; the
  demo file has no grids layer), plus a synthetic square city of ~100k grids
  (1,024 communities, one compound per grid, grid head + worker posts,
  officers for every compound, the party chain) generated in SQL;
* (a) the raw PostGIS ``ST_Covers`` lookup on grid_part through pgbench
  (custom script, random points, 4 clients);
* (b) a minimal FastAPI endpoint that runs only that query, and (c) the full
  lookup answer of ``api.app.create_app`` — both served by uvicorn in a
  subprocess with the same options, loaded by a bounded raw-socket HTTP/1.1
  keep-alive client on 127.0.0.1 (fixed request count and time cap), first
  with 1 connection (latency) and then 8 (throughput);
* ``gridmap serve --workers 1`` and ``--workers 2`` (rate limits off): the full lookup answer and
  the minimal endpoint of the same server (``/v1/health``) at 1, 8, 32 and 64 connections, the
  ratio, p50/p99, the RSS of each worker and the cold start (spawn to the first lookup answered);
* batch: ``CoverageIndex.locate_many`` (with and without edge flags) over 1M
  random points vs a bare ``STRtree.query(points, 'intersects')`` on the
  same grid parts (best of 3, interleaved);
* address matching: noisy demo addresses (``gridmap.address.add_noise``)
  resolved to the right building.

Prints p50/p99, requests per second and the ratios. Timings are of this
machine under whatever else it is running; read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEMO = ROOT / "data" / "boundaries" / "xinwu.gpkg"
PLAN = "bench"
X0, Y0, DX, DY, N = 119.0, 31.0, 0.002, 0.0018, 316  # synthetic city: N x N square grids
BLOCK = 10  # grids per community side
QUERY = ("SELECT g.code FROM grid_part p JOIN grid g ON g.id = p.grid_id WHERE g.plan = 'bench' "
         "AND ST_Covers(p.geom, ST_SetSRID(ST_MakePoint({x}, {y}), 4490)) ORDER BY g.code LIMIT 1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- data


def synthetic_sql(n: int) -> list[str]:
    """A square city of n x n grids in communities of BLOCK x BLOCK, staffed, in plan 'bench'."""
    side = -(-n // BLOCK)
    comm = "'329901' || lpad((k / 10 + 1)::text, 3, '0') || lpad((k % 10 + 1)::text, 3, '0')"
    env = f"ST_MakeEnvelope({X0}, {Y0}, {X0 + n * DX}, {Y0 + n * DY}, 4490)"
    return [
        f"INSERT INTO district (code, name, geom) VALUES ('329901', '合成区', ST_Multi({env}))",
        f"""INSERT INTO street (code, name, district_code, geom)
            SELECT '329901' || lpad(s::text, 3, '0'), '合成' || s || '街道', '329901', ST_Multi({env})
            FROM generate_series(1, {side * side // 10 + 1}) s""",
        f"""INSERT INTO community (code, name, street_code, kind, geom)
            SELECT {comm}, '合成' || k || '社区', left({comm}, 9), 'urban',
                   ST_Multi(ST_MakeEnvelope({X0} + ci * {BLOCK * DX}, {Y0} + cj * {BLOCK * DY},
                            {X0} + least((ci + 1) * {BLOCK}, {n}) * {DX}, {Y0} + least((cj + 1) * {BLOCK}, {n}) * {DY}, 4490))
            FROM (SELECT k, k / {side} AS ci, k % {side} AS cj FROM generate_series(0, {side * side - 1}) k) x""",
        f"""CREATE TEMP TABLE bench_cells AS
            SELECT g, i, j, (i / {BLOCK}) * {side} + (j / {BLOCK}) AS k,
                   ({BLOCK - 1} - j % {BLOCK}) * {BLOCK} + i % {BLOCK} + 1 AS seq
            FROM (SELECT g, g % {n} AS i, g / {n} AS j FROM generate_series(0, {n * n - 1}) g) x""",
        f"""INSERT INTO grid (plan, code, name, community_code, households, geom)
            SELECT 'bench', {comm} || lpad(seq::text, 3, '0'), '合成网格' || g, {comm}, 400,
                   ST_Multi(ST_MakeEnvelope({X0} + i * {DX}, {Y0} + j * {DY}, {X0} + (i + 1) * {DX},
                                            {Y0} + (j + 1) * {DY}, 4490))
            FROM bench_cells""",
        f"""INSERT INTO compound (id, name, community_code, households, geom)
            SELECT 'SC' || g, '合成' || g || '苑', {comm}, 400,
                   ST_Multi(ST_MakeEnvelope({X0} + (i + 0.1) * {DX}, {Y0} + (j + 0.1) * {DY},
                                            {X0} + (i + 0.9) * {DX}, {Y0} + (j + 0.9) * {DY}, 4490))
            FROM bench_cells""",
        f"""INSERT INTO staff (id, name, role, agency, phone, phone_public, community_code)
            SELECT p || g, '员工' || g, r, 'community', '139' || lpad(g::text, 8, '0'), p = 'H', {comm}
            FROM bench_cells, (VALUES ('H', 'grid_head'), ('W', 'grid_worker')) v(p, r)""",
        f"""INSERT INTO staff (id, name, role, agency, phone, community_code)
            SELECT a || k, a || k, r, ag, '137' || lpad(k::text, 8, '0'), {comm}
            FROM generate_series(0, {side * side - 1}) k,
                 (VALUES ('PO', 'community_police', 'police'), ('UM', 'urban_management', 'urban_management'),
                         ('MR', 'market_regulation', 'market_regulation')) v(a, r, ag)""",
        f"""INSERT INTO staff_post (staff_id, role, plan, grid_code, valid_from)
            SELECT p || g, r, 'bench', {comm} || lpad(seq::text, 3, '0'), '2020-01-01'
            FROM bench_cells, (VALUES ('H', 'grid_head'), ('W', 'grid_worker')) v(p, r)""",
        """INSERT INTO officer_link (staff_id, agency, compound_id, valid_from)
           SELECT a || k, ag, 'SC' || g, '2020-01-01' FROM bench_cells,
                  (VALUES ('PO', 'police'), ('UM', 'urban_management'), ('MR', 'market_regulation')) v(a, ag)""",
        """INSERT INTO party_org (id, name, level, street_code)
           SELECT 'PS' || code, name || '大工委', 'street_committee', code FROM street WHERE code LIKE '329901%'""",
        """INSERT INTO party_org (id, name, level, parent_id, street_code, community_code)
           SELECT 'PC' || code, name || '大党委', 'community_committee', 'PS' || street_code, street_code, code
           FROM community WHERE code LIKE '329901%'""",
        f"""INSERT INTO party_org (id, name, level, parent_id, community_code, plan, grid_code, secretary_staff_id)
            SELECT 'PG' || code, name || '党支部', 'grid_branch', 'PC' || community_code, community_code,
                   'bench', code, 'H' || substr(name, 5) FROM grid WHERE plan = 'bench' AND code LIKE '329901%'""",
        f"""INSERT INTO service_point (id, name, kind, hours, geom)
            SELECT 'SSP' || s, '合成驿站' || s, 'red_station', '9:00-21:00',
                   ST_SetSRID(ST_MakePoint({X0} + random() * {n * DX}, {Y0} + random() * {n * DY}), 4490)
            FROM generate_series(1, 5000) s""",
    ]


def demo_grids(conn) -> int:
    """SIMPLE SPLIT for the demo district: each community cut by a ~500 m lattice (no partition run)."""
    from sqlalchemy import text

    sql = """
    INSERT INTO grid (plan, code, name, community_code, households, geom)
    SELECT 'bench', code || lpad(row_number() OVER (PARTITION BY code ORDER BY -ST_Y(c), ST_X(c))::text, 3, '0'),
           name || '网格' || row_number() OVER (PARTITION BY code ORDER BY -ST_Y(c), ST_X(c)), code, 0, geom
    FROM (SELECT m.code, m.name, ST_Multi(piece) AS geom, ST_PointOnSurface(piece) AS c
          FROM community m,
               LATERAL (SELECT ST_CollectionExtract(ST_Intersection(m.geom, sq.geom), 3) AS piece
                        FROM ST_SquareGrid(0.005, m.geom) sq WHERE ST_Intersects(m.geom, sq.geom)) p
          WHERE m.code NOT LIKE '329901%' AND NOT ST_IsEmpty(piece) AND ST_Area(piece) > 1e-9) x"""
    return conn.execute(text(sql)).rowcount


def load(url: str, n: int) -> dict:
    from sqlalchemy import create_engine, text

    from gridmap.storage.load import import_file
    from gridmap.storage.plans import publish

    engine = create_engine(url)
    info = {"demo": DEMO.exists()}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO plan (name) VALUES ('bench')"))
        if DEMO.exists():
            t = time.perf_counter()
            import_file(conn, DEMO)
            info["demo_grids"] = demo_grids(conn)
            say(f"  demo {DEMO.name}: imported, {info['demo_grids']} grids by simple split "
                f"({time.perf_counter() - t:.1f} s)")
        t = time.perf_counter()
        for sql in synthetic_sql(n):
            step = time.perf_counter()
            conn.execute(text(sql))
            if time.perf_counter() - step > 5:
                say(f"    {time.perf_counter() - step:.0f} s: {' '.join(sql.split()[:4])}")
        publish(conn, PLAN, force=True, reason="bench: lookups only, no staff")
        info["grids"] = conn.execute(text("SELECT count(*) FROM grid")).scalar()
        info["parts"] = conn.execute(text("SELECT count(*) FROM grid_part")).scalar()
        say(f"  synthetic city: {n * n} square grids in SQL ({time.perf_counter() - t:.1f} s); "
            f"total {info['grids']} grids, {info['parts']} parts")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return info


# ---------------------------------------------------------------- load generator


def random_points(n: int, rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over the synthetic city (every one inside some grid)."""
    return X0 + rng.uniform(1e-6, side * DX - 1e-6, n), Y0 + rng.uniform(1e-6, side * DY - 1e-6, n)


async def _worker(port: int, paths: list[str], deadline: float, lat: list[float], status: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            if time.perf_counter() > deadline:
                break
            t = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            size = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(size)
            lat.append(time.perf_counter() - t)
            status.append(int(head[9:12]))
    finally:
        writer.close()


def load_test(port: int, paths: list[str], connections: int, seconds: float) -> dict:
    """Send ``paths`` over ``connections`` keep-alive connections, stopping at ``seconds``."""
    lat: list[float] = []
    status: list[int] = []

    async def run() -> float:
        deadline = time.perf_counter() + seconds
        chunks = [paths[i::connections] for i in range(connections)]
        t = time.perf_counter()
        await asyncio.gather(*(_worker(port, c, deadline, lat, status) for c in chunks))
        return time.perf_counter() - t

    elapsed = asyncio.run(run())
    ms = np.array(lat) * 1000
    return {"n": len(lat), "rps": len(lat) / elapsed, "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)), "ok": sum(s == 200 for s in status) / max(len(status), 1)}


def serve(code: str, port: int, workdir: Path) -> subprocess.Popen:
    script = workdir / f"serve_{port}.py"
    script.write_text(code)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=str(ROOT), stdout=subprocess.DEVNULL,
                            stderr=open(workdir / f"serve_{port}.log", "w"))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on {port} did not start; see {workdir}")


UVICORN = "uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)"

MINIMAL = '''
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text

engine = create_engine({url!r}, pool_size=10, max_overflow=10)
SQL = text({sql!r})
app = FastAPI()


@app.get("/v1/lookup")
def lookup(lon: float, lat: float) -> dict:
    with engine.connect() as conn:
        return {{"code": conn.execute(SQL, {{"x": lon, "y": lat}}).scalar()}}


''' + UVICORN

FULL = '''
import uvicorn
from api.app import create_app
from gridmap.config import Settings
from gridmap.storage import make_engine

settings = Settings(database_url={url!r})
app = create_app(settings, make_engine({url!r}))
''' + UVICORN


def http_bench(url: str, workdir: Path, requests: int, seconds: float, rng: np.random.Generator,
               side: int) -> dict:
    lon, lat = random_points(requests, rng, side)
    paths = [f"/v1/lookup?lon={x:.7f}&lat={y:.7f}&crs=wgs84" for x, y in zip(lon, lat)]
    sql = QUERY.format(x=":x", y=":y")
    out = {}
    for name, code in (("minimal", MINIMAL), ("full", FULL)):
        port = free_port()
        proc = serve(code.format(url=url, sql=sql, port=port), port, workdir)
        try:
            t = time.perf_counter()
            warm = load_test(port, paths[:1], 1, 600)  # the full app builds its index here
            say(f"  {name}: first answer after {time.perf_counter() - t:.1f} s (status ok {warm['ok']:.0%})")
            load_test(port, paths[:300], 4, 30)
            out[name, 1] = load_test(port, paths, 1, seconds)
            out[name, 8] = load_test(port, paths, 8, seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


# ---------------------------------------------------------------- gridmap serve --workers N


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes under ``pid`` (itself when it serves alone)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    kids = [int(k) for k in found if "resource_tracker" not in Path(f"/proc/{k}/cmdline").read_text(errors="replace")]
    return kids or [pid]


def workers_bench(url: str, workdir: Path, requests: int, seconds: float, rng: np.random.Generator,
                  side: int, *, workers: tuple[int, ...] = (1, 2), conns: tuple[int, ...] = (1, 8, 32, 64)) -> dict:
    """``gridmap serve --workers W``: the full lookup answer and the minimal endpoint (/v1/health) of the
    same server at each connection count, RSS per worker, cold start (spawn to the first lookup answer)."""
    lon, lat = random_points(requests, rng, side)
    paths = [f"/v1/lookup?lon={x:.7f}&lat={y:.7f}&crs=wgs84" for x, y in zip(lon, lat)]
    health = ["/v1/health"] * requests
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url, "GRIDMAP_RATE_LIMITS": "false", "PYTHONPATH": str(ROOT)}
    out: dict = {}
    for w in workers:
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "gridmap", "serve", "--workers", str(w), "--port", str(port)],
                                cwd=str(workdir), env=env, stdout=subprocess.DEVNULL,
                                stderr=open(workdir / f"workers_{w}.log", "w"), start_new_session=True)
        try:
            deadline = time.time() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"gridmap serve --workers {w} did not start; see {workdir}") from None
                    time.sleep(0.1)
            first = load_test(port, paths[:1], 1, 600)
            cold = time.perf_counter() - t0
            load_test(port, paths[:600], 2 * w, 60)  # every worker builds its index
            say(f"  {w} worker(s): cold start {cold:.1f} s (first lookup ok {first['ok']:.0%})")
            for c in conns:
                out[w, c, "health"] = load_test(port, health, c, seconds)
                out[w, c, "lookup"] = load_test(port, paths, c, seconds)
            out[w, "overload"] = overload(port, url, seconds)
            out[w, "rss"] = [_rss_mb(p) for p in _workers_of(proc.pid)]
            out[w, "cold"] = cold
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    return out


def overload(port: int, url: str, seconds: float, conns: int = 60) -> dict:
    """The issue's freeze: ``conns`` connections on /v1/grids/{code}/staff (a database-backed endpoint)
    while /v1/health is timed, one request after another, on its own connection."""
    import threading

    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.connect() as conn:
        codes = [r[0] for r in conn.execute(text("SELECT code FROM grid WHERE plan = 'bench' LIMIT 500"))]
    eng.dispose()
    paths = [f"/v1/grids/{codes[i % len(codes)]}/staff" for i in range(conns * 400)]
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(load_test(port, paths, conns, seconds)))
    thread.start()
    time.sleep(0.5)
    health: list[float] = []
    while thread.is_alive():
        health.append(load_test(port, ["/v1/health"], 1, 10)["p50"])
        time.sleep(0.05)
    thread.join()
    return {**result, "health_max_ms": max(health) if health else float("nan"), "health_n": len(health)}


def workers_report(res: dict, *, workers: tuple[int, ...] = (1, 2), conns: tuple[int, ...] = (1, 8, 32, 64)) -> None:
    say("\n`gridmap serve --workers W`: full lookup answer vs the minimal endpoint (/v1/health) of the same server")
    say(f"{'workers':>7}{'conns':>6}{'health req/s':>13}{'lookup req/s':>13}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'ok':>6}")
    for w in workers:
        for c in conns:
            h, lk = res[w, c, "health"], res[w, c, "lookup"]
            say(f"{w:>7}{c:>6}{h['rps']:>13.0f}{lk['rps']:>13.0f}{lk['rps'] / h['rps']:>7.2f}{lk['p50']:>8.2f}"
                f"{lk['p99']:>8.2f}{lk['ok']:>6.0%}")
    for w in workers:
        o = res[w, "overload"]
        say(f"{w} worker(s), 60 connections on /v1/grids/{{code}}/staff: {o['rps']:.0f} req/s, p99 {o['p99']:.0f} ms, "
            f"ok {o['ok']:.0%}; /v1/health meanwhile: {o['health_n']} answers, slowest {o['health_max_ms']:.0f} ms")
    for w in workers:
        rss = ", ".join(f"{m:.0f}" for m in res[w, "rss"])
        say(f"{w} worker(s): RSS per worker {rss} MB; cold start {res[w, 'cold']:.1f} s")


# ---------------------------------------------------------------- pgbench


def pgbench(port: int, workdir: Path, seconds: float, side: int) -> dict:
    script = workdir / "lookup.sql"
    script.write_text(textwrap.dedent(f"""\
        \\set x random(1, 999000)
        \\set y random(1, 999000)
        {QUERY.format(x=f"{X0} + :x * {side * DX / 1e6}", y=f"{Y0} + :y * {side * DY / 1e6}")};
        """))
    bindir = Path("/usr/lib/postgresql/15/bin")
    cmd = [str(bindir / "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(port), "-U", "gridmap", "-c", "4",
           "-j", "2", "-T", str(int(seconds)), "-M", "prepared", "-f", str(script), "-l",
           "--log-prefix", str(workdir / "pgbench"), "gridmap"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(workdir))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    tps = float(re.search(r"tps = ([\d.]+)", proc.stdout).group(1))
    latencies = []
    for log in workdir.glob("pgbench.*"):
        latencies += [int(line.split()[2]) for line in log.read_text().splitlines() if line.strip()]
    ms = np.array(latencies) / 1000
    return {"n": len(ms), "rps": tps, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


# ---------------------------------------------------------------- batch and addresses


def batch_bench(url: str, points: int, rng: np.random.Generator, side: int) -> dict:
    import shapely
    from sqlalchemy import create_engine

    from gridmap.coverage.index import CoverageIndex
    from gridmap.storage.coverage import generation_at, load_coverage

    engine = create_engine(url)
    with engine.connect() as conn:
        t = time.perf_counter()
        index = CoverageIndex(load_coverage(conn, generation_at(conn)), edge_m=30.0)
        build = time.perf_counter() - t
    engine.dispose()
    tree = shapely.STRtree(index.part_geoms)
    lon, lat = random_points(points, rng, side)
    runs: dict[str, list[float]] = {"bare": [], "edge": [], "grid": []}
    for _ in range(3):
        t = time.perf_counter()
        tree.query(shapely.points(lon, lat), predicate="intersects")
        runs["bare"].append(time.perf_counter() - t)
        t = time.perf_counter()
        with_edge = index.locate_many(lon, lat, edge=True)
        runs["edge"].append(time.perf_counter() - t)
        t = time.perf_counter()
        index.locate_many(lon, lat, edge=False)
        runs["grid"].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in runs.items()}
    return {"build_s": build, "grids": len(index), "covered": float((with_edge.grid >= 0).mean()),
            "edge_share": float(with_edge.edge.mean()), **{k: points / v for k, v in best.items()}}


def address_bench(url: str, rng: np.random.Generator, sample: int = 3000) -> dict | None:
    from sqlalchemy import create_engine

    from gridmap.address import add_noise
    from gridmap.errors import GridmapError
    from gridmap.coverage.address import resolve_address
    from gridmap.storage.gazetteer import load_address_book, read_addresses

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = read_addresses(conn)
        t = time.perf_counter()
        book = load_address_book(conn)
        build = time.perf_counter() - t
    engine.dispose()
    rows = rows[rows["building_id"].notna()]
    if not len(rows):
        return None
    picked = rows.iloc[rng.choice(len(rows), size=min(sample, len(rows)), replace=False)]
    right, levels = 0, {}
    t = time.perf_counter()
    for row in picked.itertuples():
        try:
            resolved = resolve_address(book, add_noise(row.address, rng))
        except GridmapError:
            continue
        levels[resolved.location["method"]] = levels.get(resolved.location["method"], 0) + 1
        right += resolved.building_id == row.building_id
    per = (time.perf_counter() - t) / len(picked)
    return {"n": len(picked), "right": right / len(picked), "levels": levels, "ms": per * 1000,
            "addresses": len(book.rows), "build_s": build}


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=N, help="synthetic city side in grids (316 → ~100k)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per HTTP run")
    parser.add_argument("--seconds", type=float, default=15.0, help="time cap per HTTP/pgbench run")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for the batch run")
    parser.add_argument("--only-workers", action="store_true",
                        help="only the `gridmap serve --workers 1/2` run (1, 8, 32, 64 connections)")
    args = parser.parse_args()
    from gridmap.storage import migrate
    from gridmap.storage.cluster import LocalCluster

    rng = np.random.default_rng(20241125)
    base = Path(tempfile.mkdtemp(prefix="gridmap-bench-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "cluster", free_port())
    try:
        say(f"cluster in {base} on port {cluster.port}")
        cluster.start()
        migrate.upgrade(cluster.url)
        info = load(cluster.url, args.side)
        say(f"data: {info['grids']} grids")
        say("workers ...")
        workers = workers_bench(cluster.url, base, args.requests, args.seconds, rng, args.side)
        workers_report(workers)
        if args.only_workers:
            return
        say("(a) pgbench ST_Covers ...")
        pg = pgbench(cluster.port, base, args.seconds, args.side)
        say("(b)/(c) HTTP ...")
        http = http_bench(cluster.url, base, args.requests, args.seconds, rng, args.side)
        say("batch ...")
        batch = batch_bench(cluster.url, args.points, rng, args.side)
        say("addresses ...")
        addr = address_bench(cluster.url, rng) if info["demo"] else None
        report(info, pg, http, batch, addr, args)
    finally:
        cluster.destroy()


def report(info: dict, pg: dict, http: dict, batch: dict, addr: dict | None, args: argparse.Namespace) -> None:
    say("")
    say(f"data: {info['grids']} grids ({info['parts']} parts); demo xinwu: "
        f"{'yes, grids by simple split: ' + str(info.get('demo_grids')) if info['demo'] else 'absent'}")
    say(f"{'what':<48}{'conns':>6}{'n':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    say(f"{'(a) pgbench ST_Covers on grid_part':<48}{4:>6}{pg['n']:>8}{pg['rps']:>10.0f}{pg['p50']:>9.2f}"
        f"{pg['p99']:>9.2f}")
    for (name, conns), r in sorted(http.items(), key=lambda kv: (kv[0][1], kv[0][0] != "minimal")):
        label = "(b) minimal FastAPI + that query" if name == "minimal" else "(c) full lookup answer (cache)"
        say(f"{label:<48}{conns:>6}{r['n']:>8}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"   ok {r['ok']:.0%}")
    for conns in (1, 8):
        say(f"ratio full/minimal req/s at {conns} conn: {http['full', conns]['rps'] / http['minimal', conns]['rps']:.2f}"
            f"   (target >= 1; full p99 {http['full', conns]['p99']:.2f} ms, target < 10)")
    say(f"\nbatch of {args.points:,} points over {batch['grids']:,} grids "
        f"(index built in {batch['build_s']:.1f} s; covered {batch['covered']:.1%}, edge {batch['edge_share']:.1%}):")
    say(f"  bare STRtree points+query     {batch['bare']:>12,.0f} points/s")
    say(f"  locate_many grid only         {batch['grid']:>12,.0f} points/s   ratio {batch['grid'] / batch['bare']:.2f}")
    say(f"  locate_many grid + edge flag  {batch['edge']:>12,.0f} points/s   ratio {batch['edge'] / batch['bare']:.2f}"
        "   (target >= 0.80)")
    if addr:
        say(f"\naddresses: {addr['n']} noisy demo addresses (of {addr['addresses']}; gazetteer built in "
            f"{addr['build_s']:.1f} s): right building {addr['right']:.1%} (target >= 98%), "
            f"{addr['ms']:.2f} ms each; levels {addr['levels']}")
    else:
        say("\naddresses: demo file absent, not measured")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
