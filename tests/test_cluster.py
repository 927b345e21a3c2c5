"""The local cluster: reachable from a folder only root can enter, durable, password on TCP,
upgraded from the old trust/fsync-off cluster with its data kept."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from gridmap.errors import DatabaseUnavailable
from gridmap.storage.cluster import FALLBACK_HOME, LocalCluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_private_project_folder_gets_a_reachable_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    private = Path(tempfile.mkdtemp())  # mode 0700, like /root or `mktemp -d`
    monkeypatch.chdir(private)  # as `gridmap db up` run inside a clone there
    cluster = LocalCluster(Path(".gridmap"), _free_port())
    try:
        if os.geteuid() == 0:
            assert FALLBACK_HOME in cluster.pgdata.parents
        else:
            assert cluster.pgdata == private / ".gridmap" / "pg"
        cluster.start()
        assert cluster.running()
        status = cluster._run(["pg_ctl", "status", "-D", str(cluster.pgdata)])
        assert "could not change directory" not in status.stderr
        again = LocalCluster(private / ".gridmap", cluster.port)
        assert again.pgdata == cluster.pgdata and again.running()
    finally:
        cluster.destroy()
    assert not cluster.pgdata.exists()


def _connect(port: int, password: str | None):
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=port, user="gridmap", dbname="gridmap",
                            password=password, connect_timeout=10)


def _settings(url: str) -> dict[str, str]:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return {name: conn.execute(text(f"SHOW {name}")).scalar() for name in
                    ("fsync", "full_page_writes", "synchronous_commit", "password_encryption")}
    finally:
        eng.dispose()


def _refused(port: int, password: str | None) -> str:
    import psycopg2

    with pytest.raises(psycopg2.OperationalError) as err:
        _connect(port, password).close()
    return str(err.value)


def test_durable_cluster_keeps_the_defaults_and_asks_for_the_password() -> None:
    cluster = LocalCluster(Path(tempfile.mkdtemp()) / ".gridmap", _free_port())
    try:
        cluster.start()
        mode = cluster.password_file.stat().st_mode
        assert stat.S_IMODE(mode) == 0o600, oct(mode)
        password = cluster.password_file.read_text().strip()
        assert len(password) >= 24 and password in cluster.url

        assert "no password supplied" in _refused(cluster.port, None)
        assert "password authentication failed" in _refused(cluster.port, password + "x")
        _connect(cluster.port, password).close()

        assert _settings(cluster.url) == {"fsync": "on", "full_page_writes": "on",
                                          "synchronous_commit": "on", "password_encryption": "scram-sha-256"}
        # A second `up` changes nothing: same password, still durable.
        LocalCluster(cluster.data_dir, cluster.port).start()
        assert cluster.password_file.read_text().strip() == password
        assert _settings(cluster.url)["fsync"] == "on"
        # A lost password file does not strand the data: the next `up` makes and sets a new one.
        cluster.password_file.unlink()
        LocalCluster(cluster.data_dir, cluster.port).start()
        renewed = cluster.password_file.read_text().strip()
        assert renewed != password
        assert "password authentication failed" in _refused(cluster.port, password)
        _connect(cluster.port, renewed).close()
    finally:
        cluster.destroy()


def test_the_test_fixtures_cluster_is_the_fast_one(engine) -> None:
    from sqlalchemy import text

    with engine.connect() as conn:
        if not conn.execute(text("SELECT inet_server_addr() = '127.0.0.1'")).scalar():
            pytest.skip("GRIDMAP_TEST_DATABASE_URL points elsewhere")
        assert {n: conn.execute(text(f"SHOW {n}")).scalar()
                for n in ("fsync", "full_page_writes", "synchronous_commit")} == dict.fromkeys(
                    ("fsync", "full_page_writes", "synchronous_commit"), "off")


def test_a_cluster_from_the_old_gridmap_is_secured_and_made_durable_keeping_its_data() -> None:
    """The old code: initdb --auth=trust, started with fsync etc. off; still running on upgrade."""
    cluster = LocalCluster(Path(tempfile.mkdtemp()) / ".gridmap", _free_port())
    try:
        cluster._prepare_dir()
        cluster._run(["initdb", "-D", str(cluster.pgdata), "-U", "gridmap", "--auth=trust",
                      "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        cluster._run(["pg_ctl", "start", "-w", "-D", str(cluster.pgdata), "-l", str(cluster.pgdata / "server.log"),
                      "-o", f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
                            f"-c unix_socket_directories={cluster.pgdata} -c fsync=off "
                            "-c synchronous_commit=off -c full_page_writes=off"])
        cluster._psql("CREATE DATABASE gridmap;")
        old = _connect(cluster.port, None)  # trust: no password needed
        old.autocommit = True
        with old.cursor() as cur:
            cur.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('网格')")
        old.close()
        with pytest.raises(DatabaseUnavailable, match="gridmap db up"):
            _ = cluster.url

        cluster.start()  # what `gridmap db up` does

        assert "no password supplied" in _refused(cluster.port, None)
        assert _settings(cluster.url)["fsync"] == "on"
        assert _settings(cluster.url)["synchronous_commit"] == "on"
        conn = _connect(cluster.port, cluster.password_file.read_text().strip())
        with conn.cursor() as cur:
            cur.execute("SELECT v FROM kept")
            assert cur.fetchall() == [("网格",)]
        conn.close()
        assert (cluster.pgdata / "pg_hba.conf.before-gridmap").exists()
    finally:
        cluster.destroy()


def test_a_taken_port_is_named_in_the_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = LocalCluster(Path(tempfile.mkdtemp()) / ".gridmap", taken.getsockname()[1], durable=False)
        try:
            with pytest.raises(DatabaseUnavailable, match="GRIDMAP_PG_PORT") as err:
                cluster.start()
            assert "could not create any TCP/IP sockets" in err.value.detail
        finally:
            cluster.destroy()


def test_db_status_connects_with_the_password_and_does_not_print_it(scratch_url: str, monkeypatch) -> None:
    from sqlalchemy.engine import make_url
    from typer.testing import CliRunner

    from gridmap.cli import app
    from gridmap.storage import migrate

    password = make_url(scratch_url).password
    migrate.upgrade(scratch_url)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_url)
    result = CliRunner().invoke(app, ["db", "status"])
    assert result.exit_code == 0, result.output
    assert "schema:" in result.output and "district" in result.output
    if password:
        assert password not in result.output
