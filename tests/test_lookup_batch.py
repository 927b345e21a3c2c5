"""Batch lookup (JSON and CSV, NDJSON and CSV out), the one-shot CLI path and the card it prints."""

from __future__ import annotations

import csv
import io
import json
from contextlib import nullcontext

import numpy as np
import pytest
from sqlalchemy import Connection

from gridmap.config import Settings
from gridmap.crs import wgs84_to_gcj02
from tests.test_lookup import E1, W1, W2, city, dispatcher_key  # noqa: F401  (city is a fixture)


def post(client, conn: Connection, rows, **params):
    return client.post("/v1/lookup/batch", json=rows, params=params, headers=dispatcher_key(conn))


def ndjson(r) -> list[dict]:
    return [json.loads(line) for line in r.text.splitlines() if line]


def test_batch_json_in_ndjson_out_keeps_order_and_isolates_bad_rows(client, city: Connection) -> None:
    glon, glat = wgs84_to_gcj02(120.3072, 31.5031)
    rows = [
        {"id": "a", "lon": 120.3021, "lat": 31.5025, "crs": "wgs84"},
        {"id": "b", "lon": glon, "lat": glat, "crs": "gcj02"},
        {"id": "c", "lon": 120.3, "lat": 95, "crs": "wgs84"},
        {"id": "d", "lon": 120.3, "lat": 31.5, "crs": "mars"},
        {"id": "e", "lon": "east", "lat": 31.5, "crs": "wgs84"},
        {"id": "f", "address": "长江路8号春潮花园3栋2单元"},
        {"id": "g", "address": "北京市海淀区中关村大街1号"},
        {"id": "h", "lon": 120.319, "lat": 31.505, "crs": "wgs84"},
        {"lon": 120.3, "lat": 31.5, "crs": "wgs84"},
        "not a row",
        {"id": "k", "lon": 120.3, "lat": 31.5},
        {"id": "l", "lon": 116.4, "lat": 39.9, "crs": "wgs84"},
        {"id": "m", "lon": 120.305, "lat": 31.5055, "crs": "cgcs2000"},
    ]
    r = post(client, city, rows)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    out = ndjson(r)
    assert [o["row"] for o in out] == list(range(1, len(rows) + 1))
    by_id = {o["id"]: o for o in out if o["id"] is not None}
    assert by_id["a"]["grid_code"] == W1 and by_id["a"]["community_name"] == "新光社区"
    assert by_id["b"]["grid_code"] == W2 and by_id["b"]["lon"] == pytest.approx(120.3072, abs=1e-6)
    assert by_id["c"]["error"] == "out_of_range"
    assert by_id["d"]["error"] == "unknown_crs"
    assert by_id["e"]["error"] == "invalid_input" and "lon" in by_id["e"]["detail"]
    assert by_id["f"]["grid_code"] == W1 and by_id["f"]["method"] in ("exact_address", "parsed_address")
    assert by_id["g"]["error"] == "address_not_found"
    assert by_id["h"]["error"] == "no_covering_grid" and by_id["h"]["nearest"]["code"] == E1
    assert out[8]["error"] == "invalid_input" and "id" in out[8]["detail"]
    assert out[9]["error"] == "invalid_input"
    assert by_id["k"]["error"] == "invalid_input" and "crs" in by_id["k"]["detail"]
    assert by_id["l"]["error"] == "out_of_range" and "service area" in by_id["l"]["detail"]
    assert by_id["m"]["edge"] is True and by_id["a"]["edge"] is False


def test_batch_csv_upload_csv_out(client, city: Connection) -> None:
    text = "id,lon,lat,crs,address\n1,120.3021,31.5025,wgs84,\n2,,,,春潮花园1栋1单元\n3,abc,31.5,wgs84,\n"
    r = client.post("/v1/lookup/batch", params={"format": "csv"}, headers=dispatcher_key(city),
                    files={"file": ("rows.csv", text.encode(), "text/csv")})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["grid_code"] == W1 and rows[1]["grid_code"] == W1
    assert rows[2]["error"] == "invalid_input"
    raw = client.post("/v1/lookup/batch", content=text.encode(), headers={**dispatcher_key(city),
                      "Content-Type": "text/csv", "Accept": "text/csv"})
    assert raw.status_code == 200 and raw.content.startswith(b"\xef\xbb\xbfrow,id,")  # UTF-8 BOM for Excel


def test_batch_many_points_agree_with_single_lookups(client, city: Connection) -> None:
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(120.3001, 120.3179, 300), rng.uniform(31.5001, 31.5099, 300)
    rows = [{"id": i, "lon": x, "lat": y, "crs": "cgcs2000"} for i, (x, y) in enumerate(zip(lon, lat))]
    out = ndjson(post(client, city, rows))
    for i in range(0, 300, 37):
        single = client.get("/v1/lookup", params={"lon": lon[i], "lat": lat[i], "crs": "cgcs2000"}).json()
        assert out[i]["grid_code"] == single["grid"]["code"]
        assert out[i]["edge"] == single["edge"]


@pytest.mark.parametrize("kwargs, word", [
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "JSON"),
    ({"json": {"id": 1}}, "list"),
    ({"content": b"name,x\nfoo,1\n", "headers": {"Content-Type": "text/csv"}}, "header"),
    ({"files": {"file": ("x.csv", b"\xff\xfe\x00bad", "text/csv")}}, "UTF-8"),
    ({"files": {"other": ("x.csv", b"id,lon,lat,crs\n", "text/csv")}}, "file"),
])
def test_malformed_batches_are_named_4xx(client, city: Connection, kwargs: dict, word: str) -> None:
    headers = {**dispatcher_key(city), **kwargs.pop("headers", {})}
    r = client.post("/v1/lookup/batch", headers=headers, **kwargs)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input" and word in r.json()["detail"]


def test_oversized_batch_is_refused(client, city: Connection) -> None:
    client.app.state.settings = Settings(max_batch_rows=2)
    rows = [{"id": i, "lon": 120.3021, "lat": 31.5025, "crs": "wgs84"} for i in range(3)]
    r = post(client, city, rows)
    assert r.status_code == 422 and "at most 2" in r.json()["detail"]


def test_batch_needs_a_dispatcher(client, city: Connection) -> None:
    r = client.post("/v1/lookup/batch", json=[{"id": 1, "lon": 120.3021, "lat": 31.5025, "crs": "wgs84"}])
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_one_shot_lookup_and_card(city: Connection) -> None:
    from gridmap.cli.lookup import render_card
    from gridmap.services.coverage import lookup_once

    answer = lookup_once(lambda: nullcontext(city), lon=120.3021, lat=31.5025, crs="wgs84", role="dispatcher")
    assert answer["grid"]["code"] == W1 and answer["staff"]["building_chief"]["id"] == "S3"
    text = "\n".join(render_card(answer))
    assert "新光一网格" in text and "网格党支部" in text and "王芳" in text and "公安" in text
    by_address = lookup_once(lambda: nullcontext(city), address="春潮花园2栋1单元", role="dispatcher")
    assert by_address["building_id"] == "C1-B2"


def test_nan_in_a_json_batch_is_refused(client, city: Connection) -> None:
    """NaN/Infinity are not JSON: refused with a 422 rather than carried into the answers."""
    body = b'[{"id": 1, "lon": NaN, "lat": 31.5, "crs": "wgs84"}]'
    r = client.post("/v1/lookup/batch", content=body,
                    headers={**dispatcher_key(city), "Content-Type": "application/json"})
    assert r.status_code == 422 and "NaN" in r.json()["detail"]
