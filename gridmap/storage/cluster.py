"""A local PostgreSQL + PostGIS cluster in a data folder (initdb / pg_ctl).

Used when no ``GRIDMAP_DATABASE_URL`` is set, by ``gridmap db up`` and by
the test fixtures. PostgreSQL refuses to run as root, so when we are root
the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gridmap.errors import DatabaseUnavailable

INSTALL_HINT = (
    "install them with: sudo apt-get install -y postgresql-15 postgresql-15-postgis-3 "
    "postgresql-contrib (or set GRIDMAP_DATABASE_URL to an existing PostGIS server)"
)
DB_NAME = "gridmap"
DB_USER = "gridmap"


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl, newest PostgreSQL first."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for d in candidates:
        if (Path(d) / "initdb").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise DatabaseUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found; {INSTALL_HINT}")


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def check_postgis(bindir: Path) -> None:
    """Raise when the PostGIS extension is not installed for this PostgreSQL."""
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True
    ).stdout.strip() if (bindir / "pg_config").exists() else ""
    if not sharedir:
        sharedir = f"/usr/share/postgresql/{bindir.parent.name}"
    if not Path(sharedir, "extension", "postgis.control").exists():
        raise DatabaseUnavailable(f"PostGIS is not installed for PostgreSQL in {bindir}; {INSTALL_HINT}")


#: Where clusters live when the postgres user cannot enter the project's data folder.
FALLBACK_HOME = Path("/var/tmp/gridmap-clusters")


def _enterable_by_all(folder: Path) -> bool:
    """Whether every existing parent of ``folder`` lets any user pass through (o+x).

    ``folder`` itself is left out: gridmap creates it and opens it up.
    """
    return all(os.stat(p).st_mode & 0o001 for p in folder.resolve().parents if p.exists())


@dataclass
class LocalCluster:
    """A PostgreSQL cluster living in ``data_dir`` and listening on 127.0.0.1:``port``."""

    data_dir: Path
    port: int

    @property
    def pgdata(self) -> Path:
        """The cluster's folder: ``data_dir/pg``, or, when the server runs as ``postgres`` and cannot
        enter ``data_dir`` (e.g. a project under /root), a folder under /var/tmp named after it."""
        if os.geteuid() == 0 and not _enterable_by_all(self.data_dir):
            digest = hashlib.sha1(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
            return FALLBACK_HOME / digest / "pg"
        return self.data_dir / "pg"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(find_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise DatabaseUnavailable(
                f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        home = self.pgdata.parent
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for folder in {self.data_dir, home, FALLBACK_HOME} & {self.data_dir, home, *home.parents}:
                folder.chmod(0o755)
            os.chown(home, pg.pw_uid, pg.pw_gid)

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._run(["pg_ctl", "status", "-D", str(self.pgdata)], check=False).returncode == 0

    def init(self) -> None:
        """initdb the cluster (trust auth on loopback only) unless it exists."""
        bindir = find_bindir()
        check_postgis(bindir)
        if self.initialised():
            return
        self._prepare_dir()
        self._run(["initdb", "-D", str(self.pgdata), "-U", DB_USER, "--auth=trust",
                   "--encoding=UTF8", "--locale=C.UTF-8"])

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and create the database if needed."""
        self.init()
        if not self.running():
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                    f"-c unix_socket_directories={self.pgdata} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
                    "-c shared_buffers=256MB")
            self._run(["pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(self.pgdata),
                       "-l", str(self.pgdata / "server.log"), "-o", opts])
        self._wait_ready(timeout)
        self._create_database()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], check=False)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise DatabaseUnavailable(f"PostgreSQL did not accept connections on port {self.port}")

    def _create_database(self) -> None:
        psql = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, "-d", "postgres",
                "-tAc"]
        exists = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"])
        if exists.stdout.strip() != "1":
            self._run([*psql, f"CREATE DATABASE {DB_NAME}"])

    def stop(self) -> None:
        if self.running():
            self._run(["pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w"])

    def destroy(self) -> None:
        """Stop the server and delete its data folder."""
        self.stop()
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
