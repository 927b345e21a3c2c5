"""Files as Excel writes and reads them: GBK or UTF-8 (BOM) CSV in, UTF-8 with BOM out, Chinese rosters."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from gridmap.coverage.batch import parse_csv
from gridmap.domain import AGENCY_ZH, ROLE_ZH
from gridmap.errors import InvalidFile, InvalidInput
from gridmap.interchange.roster import read_roster
from gridmap.interchange.text import decode_csv
from gridmap.services.workflows import import_roster
from tests.test_lookup import W1, city, dispatcher_key  # noqa: F401  (city is a fixture)
from tests.test_staffing import COMM1, full_roster, load
from tests.tiny import write_tiny

ZH_HEADERS = {"id": "编号", "name": "姓名", "role": "角色", "agency": "条线", "phone": "电话",
              "phone_public": "电话公开", "community_code": "社区代码", "street_code": "街道代码",
              "party_member": "党员"}


def chinese_roster() -> pd.DataFrame:
    """The full test roster as a community office types it: Chinese headers, roles, agencies and 是/否."""
    df = pd.DataFrame(full_roster())
    df["role"] = df["role"].map(ROLE_ZH)
    df["agency"] = df["agency"].map(lambda a: AGENCY_ZH.get(a, "社区"))
    for col in ("phone_public", "party_member"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else ("是" if v else "否"))
    return df.rename(columns=ZH_HEADERS)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_a_chinese_roster_imports_in_every_excel_encoding(conn: Connection, tmp_path: Path, encoding: str) -> None:
    load(conn, [])
    path = tmp_path / "花名册.csv"
    chinese_roster().to_csv(path, index=False, encoding=encoding)
    if encoding == "gbk":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")  # really not UTF-8, as Excel in zh-CN saves it
    result = import_roster(conn, path)
    assert (result["people"], result["inserted"]) == (20, 20)
    rows = dict(conn.execute(text("SELECT id, role FROM staff")).all())
    assert rows["H1"] == "grid_head" and rows["P1a"] == "community_police" and rows["B1"] == "building_chief"
    police = conn.execute(text("SELECT agency, phone_public FROM staff WHERE id = 'P1a'")).one()
    assert tuple(police) == ("police", False)
    assert conn.execute(text("SELECT phone_public FROM staff WHERE id = 'H1'")).scalar() is True


def test_every_roster_role_name_of_the_glossary_is_accepted(tmp_path: Path) -> None:
    rows = [{"编号": f"X{i}", "姓名": f"人{i}", "角色": zh, "电话": "13900000000", "电话公开": "否",
             "社区代码": COMM1} for i, zh in enumerate(ROLE_ZH.values())]
    path = tmp_path / "roles.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    roster = read_roster(path)
    assert list(roster["role"]) == list(ROLE_ZH)


def test_xlsx_roster_with_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    chinese_roster().to_excel(path, index=False)
    roster = read_roster(path)
    assert roster.loc[2, "role"] == "grid_head" and roster.loc[2, "phone_public"]


def test_roster_lists_every_row_error_at_once(tmp_path: Path) -> None:
    df = chinese_roster()
    df.loc[1, "角色"] = "保安"  # row 3
    df.loc[4, "电话"] = "打电话"  # row 6
    df.loc[4, "电话公开"] = "也许"  # row 6 again
    df.loc[9, "编号"] = "H1"  # row 11 repeats row 2
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False, encoding="gbk")
    with pytest.raises(InvalidFile) as info:
        read_roster(path)
    where = {(i.feature, i.column) for i in info.value.issues}
    assert where == {("row 3", "role"), ("row 6", "phone"), ("row 6", "phone_public"), ("row 11", "id")}
    assert "row 3, column role: '保安' is not a role; allowed: grid_head (网格长)" in info.value.detail
    assert "4 problems" in info.value.detail


def test_roster_reference_errors_come_with_row_errors(conn: Connection, tmp_path: Path) -> None:
    load(conn, [])
    df = chinese_roster()
    df.loc[0, "姓名"] = ""
    df.loc[2, "社区代码"] = "320214050099"
    df.loc[2, "街道代码"] = "320214050"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False, encoding="gbk")
    with pytest.raises(InvalidFile) as info:
        import_roster(conn, path)
    assert {(i.feature, i.column) for i in info.value.issues} == {("row 2", "name"), ("row 4", "community_code")}
    assert conn.execute(text("SELECT count(*) FROM staff")).scalar() == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("编号姓名网格长社区民警春潮花园1栋,abcXYZ0123 -"), max_size=12),
                min_size=1, max_size=6),
       st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030"]))
def test_decode_csv_reads_back_what_excel_wrote(cells: list[str], encoding: str) -> None:
    content = "\n".join(cells)
    assert decode_csv(content.encode(encoding)) == content


def test_decode_csv_names_both_encodings() -> None:
    with pytest.raises(InvalidInput, match="neither UTF-8 nor GBK"):
        decode_csv(b"\xff\xfe\x00bad")


def test_batch_lookup_accepts_a_gbk_csv(client, city: Connection) -> None:
    body = "id,lon,lat,crs,address\n1,,,,春潮花园1栋1单元\n2,120.3021,31.5025,wgs84,\n".encode("gbk")
    assert parse_csv(body)[0]["address"] == "春潮花园1栋1单元"
    r = client.post("/v1/lookup/batch", params={"format": "csv"}, headers=dispatcher_key(city),
                    files={"file": ("rows.csv", body, "text/csv")})
    assert r.status_code == 200, r.text
    assert r.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["grid_code"] for row in rows] == [W1, W1]


def test_cli_batch_output_starts_with_the_bom(scratch_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from gridmap.cli import app
    from gridmap.storage import migrate

    migrate.upgrade(scratch_url)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_url)
    runner = CliRunner()
    for args in (["import", str(write_tiny(tmp_path / "tiny.gpkg"))],
                 ["partition", "--street", "320214050", "--plan", "p1", "--workers", "1"],
                 ["publish", "p1", "--force", "--reason", "test: lookups only, tiny has no heads"]):
        assert runner.invoke(app, args).exit_code == 0
    rows = tmp_path / "rows.csv"
    rows.write_bytes("id,address\n1,春潮花园1栋1单元\n".encode("gbk"))
    out = tmp_path / "answers.csv"
    result = runner.invoke(app, ["lookup", "--csv", str(rows), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    [answer] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert answer["grid_code"].startswith("320214050001") and answer["error"] == ""
