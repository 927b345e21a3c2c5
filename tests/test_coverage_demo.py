"""Done-when of the one coverage service, on the demo district (Xinwu): every caller names the same grid.

Street 旺庄街道 (320214050) of the demo is partitioned (25 of its compounds
are split over grids), published and staffed once for the module. Sixty
texts — building addresses with dispatcher noise (an explicit
``numpy.random.default_rng``), compound names alone (split ones among them)
and the cases of the issue (悦岸佳苑2幢, 馨里苑, 青年南路17號) — are asked of
``/v1/lookup?address=``, the map page ``/maps/lookup?address=`` (its
``<meta name="gridmap-answer">``), ``gridmap lookup --address … --json`` and
the batch endpoint: they give one outcome per text (the grid, the same
choices, or the same not-found), never a 5xx, and every JSON they print parses
strictly (no NaN).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, Engine, text

from gridmap.address import add_noise
from tests.demo_plans import publish_street, rolled_back

STREET = "320214050"
PLAN = "demo-coverage"
SPECIAL = ("悦岸佳苑2幢", "馨里苑", "青年南路17號")


def strict(body: str):
    """json.loads that refuses NaN and Infinity (Python's json accepts them by default)."""
    def refuse(word: str):
        raise ValueError(f"{word} is not JSON")
    return json.loads(body, parse_constant=refuse)


@pytest.fixture(scope="module")
def demo(engine: Engine, demo_file: Path) -> Iterator[Connection]:
    """The demo imported, street 320214050 partitioned, staffed and published, in one rolled-back transaction."""
    with rolled_back(engine) as conn:
        publish_street(conn, demo_file, street=STREET, plan=PLAN)
        yield conn


@pytest.fixture(scope="module")
def api(demo: Connection, engine: Engine):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from tests.overrides import nested_conn

    app = create_app(Settings(), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(demo)
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def one_gazetteer(demo: Connection) -> Iterator[None]:
    """The CLI builds the gazetteer on every run (1–2 s on the demo); here it is built once and handed
    to every run — the same object each run would build from the same rows."""
    import gridmap.services.coverage as service
    from gridmap.storage.gazetteer import load_address_book

    book = load_address_book(demo)
    mp = pytest.MonkeyPatch()
    mp.setattr(service, "load_address_book", lambda conn: book)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def texts(demo: Connection) -> list[str]:
    """40 noisy building addresses and 17 compound names of the street, plus the three cases of the issue."""
    rng = np.random.default_rng(20261201)
    rows = demo.execute(text("""SELECT a.address FROM address a JOIN compound k ON k.id = a.compound_id
                                JOIN community c ON c.code = k.community_code
                                WHERE c.street_code = :s AND a.building_id IS NOT NULL ORDER BY a.id"""),
                        {"s": STREET}).scalars().all()
    buildings = [add_noise(rows[i], rng) for i in rng.choice(len(rows), size=40, replace=False)]
    split = demo.execute(text("""SELECT k.name FROM compound k WHERE k.id IN (
                                   SELECT compound_id FROM grid_member WHERE plan = :p
                                   GROUP BY compound_id HAVING count(DISTINCT grid_code) > 1) ORDER BY k.id"""),
                         {"p": PLAN}).scalars().all()
    whole = demo.execute(text("""SELECT k.name FROM compound k JOIN community c ON c.code = k.community_code
                                 WHERE c.street_code = :s AND k.name NOT IN (
                                   SELECT name FROM compound GROUP BY name HAVING count(*) > 1)
                                 ORDER BY k.id"""), {"s": STREET}).scalars().all()
    whole = [n for n in whole if n not in split]
    names = [split[i] for i in rng.choice(len(split), size=6, replace=False)]
    names += [whole[i] for i in rng.choice(len(whole), size=11, replace=False)]
    out = buildings + names + list(SPECIAL)
    assert len(out) == len(set(out)) == 60
    return out


# ---------------------------------------------------------------- one outcome per caller


def api_outcome(api, address: str) -> tuple:
    r = api.get("/v1/lookup", params={"address": address})
    assert r.status_code < 500, (address, r.text[:300])
    body = strict(r.text)
    if r.status_code == 200:
        return ("found", body["grid"]["code"])
    if r.status_code == 300:
        return ("ambiguous", tuple(g["code"] for g in body["grids"]))
    assert r.status_code == 404, (address, r.text[:300])
    return ("not_found", body["error"])


def map_outcome(api, address: str) -> tuple:
    r = api.get("/maps/lookup", params={"address": address, "tiles": "none"})
    assert r.status_code < 500, (address, r.text[:300])
    if r.headers["content-type"].startswith("application/json"):
        assert r.status_code == 404
        return ("not_found", strict(r.text)["error"])
    meta = re.search(r'<meta name="gridmap-answer" data-state="(\w+)" data-code="(\d*)" data-codes="([\d ]*)">',
                     r.text)
    assert meta, address
    state, code, codes = meta.groups()
    assert r.status_code == (300 if state == "ambiguous" else 200)
    if state == "found":
        return ("found", code)
    if state == "ambiguous":
        return ("ambiguous", tuple(codes.split()))
    return ("not_found", "no_covering_grid")


def cli_outcome(demo: Connection, address: str, monkeypatch: pytest.MonkeyPatch) -> tuple:
    from typer.testing import CliRunner

    import gridmap.cli.lookup as cmd
    from gridmap.cli import app

    class Engine:
        def begin(self):
            return nullcontext(demo)

    monkeypatch.setattr(cmd, "engine", lambda: Engine())
    result = CliRunner().invoke(app, ["lookup", "--address", address, "--json"])
    if result.exit_code == 0:
        return ("found", strict(result.stdout)["grid"]["code"])
    if result.exit_code == 3:
        body = strict(result.stdout)
        assert body["error"] == "ambiguous"
        return ("ambiguous", tuple(g["code"] for g in body["grids"]))
    assert result.exit_code == 2, (address, result.output, result.exception)
    return ("not_found", re.search(r"error \((\w+)\)", result.stderr).group(1))


def test_api_map_page_and_cli_name_the_same_grid(api, demo: Connection, texts: list[str], one_gazetteer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = {}
    for address in texts:
        api_says = api_outcome(api, address)
        assert map_outcome(api, address) == api_says, address
        assert cli_outcome(demo, address, monkeypatch) == api_says, address
        outcomes[address] = api_says
    kinds = [o[0] for o in outcomes.values()]
    print({k: kinds.count(k) for k in set(kinds)})
    assert kinds.count("found") >= 40 and kinds.count("ambiguous") >= 6, outcomes
    assert outcomes["馨里苑"][0] == "ambiguous" and len(outcomes["馨里苑"][1]) > 1
    assert outcomes["青年南路17號"] == api_outcome(api, "青年南路17号")  # 號 read as 号
    assert outcomes["青年南路17號"][0] == "found"
    building_grid = demo.execute(text("""
        SELECT g.code FROM address a JOIN grid g ON g.plan = :p AND ST_Covers(g.geom, a.geom)
        WHERE a.address LIKE '%悦岸佳苑2栋1单元' ORDER BY g.code LIMIT 1"""), {"p": PLAN}).scalar()
    assert outcomes["悦岸佳苑2幢"] == ("found", building_grid)


def test_split_compound_choices_list_the_plan_membership(api, demo: Connection) -> None:
    r = api.get("/v1/lookup", params={"address": "馨里苑"})
    assert r.status_code == 300
    body = strict(r.text)
    from api.models import AmbiguousAnswer

    AmbiguousAnswer.model_validate(body)
    members = demo.execute(text("""SELECT m.grid_code, sum(m.households) FROM grid_member m JOIN compound k
                                   ON k.id = m.compound_id WHERE m.plan = :p AND k.name = '馨里苑'
                                   GROUP BY m.grid_code ORDER BY m.grid_code"""), {"p": PLAN}).all()
    assert [(g["code"], g["compound_households"]) for g in body["grids"]] == [tuple(m) for m in members]
    assert body["compound"]["name"] == "馨里苑" and "馨里苑" in body["detail"]
    assert all(g["grid_head"] is None or g["grid_head"]["phone"] is None or g["grid_head"]["phone_public"]
               for g in body["grids"])  # public caller
    for choice in body["grids"]:  # naming a building of a choice gives that grid
        address = demo.execute(text("SELECT address FROM address WHERE building_id = :b ORDER BY id LIMIT 1"),
                               {"b": choice["buildings"][0]}).scalar()
        one = api.get("/v1/lookup", params={"address": address})
        assert one.status_code == 200 and one.json()["grid"]["code"] == choice["code"], address


def test_compound_alone_in_one_grid_is_that_grid(api, demo: Connection) -> None:
    name, code = demo.execute(text("""
        SELECT k.name, min(m.grid_code) FROM compound k JOIN grid_member m ON m.compound_id = k.id AND m.plan = :p
        WHERE k.name NOT IN (SELECT name FROM compound GROUP BY name HAVING count(*) > 1)
        GROUP BY k.id, k.name HAVING count(DISTINCT m.grid_code) = 1 ORDER BY k.id LIMIT 1"""),
        {"p": PLAN}).one()
    r = api.get("/v1/lookup", params={"address": name})
    assert r.status_code == 200, r.text[:300]
    body = strict(r.text)
    assert body["grid"]["code"] == code and body["building_id"] is None
    assert body["location"]["method"] in ("compound_name", "parsed_address", "exact_address")


def test_batch_agrees_and_never_writes_nan(api, demo: Connection, texts: list[str], tmp_path: Path,
                                           one_gazetteer, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridmap.storage.keys import create_key

    key = {"X-API-Key": create_key(demo, "dispatcher")}
    rows = [{"id": i, "address": t} for i, t in enumerate(texts)]
    r = api.post("/v1/lookup/batch", json=rows, headers=key)
    assert r.status_code == 200
    lines = [strict(line) for line in r.text.splitlines() if line]
    assert [line["id"] for line in lines] == list(range(len(texts)))
    for line, address in zip(lines, texts):
        single = api_outcome(api, address)
        if single[0] == "found":
            assert line["grid_code"] == single[1], address
        elif single[0] == "ambiguous":
            assert line["error"] == "ambiguous" and tuple(g["code"] for g in line["grids"]) == single[1]
        else:
            assert line["error"] == single[1], address
    as_csv = api.post("/v1/lookup/batch", json=rows, headers=key, params={"format": "csv"})
    cells = [v for row in csv.DictReader(io.StringIO(as_csv.text)) for v in row.values()]
    assert not any(str(v).strip().lower() in ("nan", "inf", "-inf", "infinity") for v in cells)

    # gridmap lookup --csv IN -o OUT: the same rows through the CLI's batch
    from typer.testing import CliRunner

    import gridmap.cli.lookup as cmd
    from gridmap.cli import app

    class Engine:
        def begin(self):
            return nullcontext(demo)

    monkeypatch.setattr(cmd, "engine", lambda: Engine())
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "address"])
        writer.writeheader()
        writer.writerows(rows)
    result = CliRunner().invoke(app, ["lookup", "--csv", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    written = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [w["grid_code"] or w["error"] for w in written] == [
        line.get("grid_code") or line["error"] for line in lines]
    assert not any(str(v).strip().lower() in ("nan", "inf", "-inf") for w in written for v in w.values())
