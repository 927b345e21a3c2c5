"""``gridmap serve --workers 2`` serves (issue 12): two worker processes from the app factory, settings
from the environment, each with its own coverage index, against a scratch database on the test server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine

from gridmap.storage import migrate
from gridmap.storage.load import import_file
from gridmap.storage.plans import publish
from tests.conftest import ROOT, _free_port
from tests.test_lookup import add_staffing, layers
from tests.tiny import write_tiny

POINT = "lon=120.302&lat=31.502&crs=cgcs2000"


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_with_two_workers_answers(scratch_url: str, tmp_path: Path) -> None:
    migrate.upgrade(scratch_url)
    engine = create_engine(scratch_url)
    with engine.begin() as conn:
        import_file(conn, write_tiny(tmp_path / "city.gpkg", layers()))
        publish(conn, "A", at=datetime(2024, 1, 1, tzinfo=timezone.utc), force=True, reason="test")
        add_staffing(conn)
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": scratch_url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gridmap", "serve", "--workers", "2", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
            try:
                if get(f"{base}/v1/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("gridmap serve --workers 2 did not answer /v1/health in 60 s")
        answers = [get(f"{base}/v1/lookup?{POINT}") for _ in range(30)]
        assert {status for status, _ in answers} == {200}, answers[:3]
        assert {body["grid"]["code"] for _, body in answers} == {"320214050001001"}
        assert get(f"{base}/v1/health")[1]["current_plan"] == "A"
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) >= 2, f"expected two worker processes under {proc.pid}, saw {children}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
