"""The local cluster starts even when the project sits in a folder only root can enter."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from gridmap.storage.cluster import FALLBACK_HOME, LocalCluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_private_project_folder_gets_a_reachable_cluster() -> None:
    private = Path(tempfile.mkdtemp())  # mode 0700, like /root or `mktemp -d`
    cluster = LocalCluster(private / ".gridmap", _free_port())
    try:
        if os.geteuid() == 0:
            assert FALLBACK_HOME in cluster.pgdata.parents
        else:
            assert cluster.pgdata == private / ".gridmap" / "pg"
        cluster.start()
        assert cluster.running()
        again = LocalCluster(private / ".gridmap", cluster.port)
        assert again.pgdata == cluster.pgdata and again.running()
    finally:
        cluster.destroy()
    assert not cluster.pgdata.exists()
