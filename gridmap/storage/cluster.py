"""A local PostgreSQL + PostGIS cluster in a data folder (initdb / pg_ctl).

Used when no ``GRIDMAP_DATABASE_URL`` is set, by ``gridmap db up`` and by
the test fixtures. PostgreSQL refuses to run as root, so when we are root
the server runs as the ``postgres`` system user.

The cluster keeps PostgreSQL's durability defaults (fsync, full_page_writes,
synchronous_commit) and asks for a password on TCP (scram-sha-256); the
password is generated once into ``data_dir/password`` (mode 0600). Only the test
fixtures turn durability off, with ``durable=False``. The Unix socket lives in
the cluster's own 0700 folder, so only the server's OS user reaches it: gridmap
uses it for its own maintenance (creating the database, setting the password).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from gridmap.errors import DatabaseUnavailable

INSTALL_HINT = (
    "install them with: sudo apt-get install -y postgresql-15 postgresql-15-postgis-3 "
    "postgresql-contrib (or set GRIDMAP_DATABASE_URL to an existing PostGIS server)"
)
DB_NAME = "gridmap"
DB_USER = "gridmap"
#: First line of the pg_hba.conf gridmap writes; a file without it (initdb's, or one from an older
#: gridmap that trusted every TCP connection) is replaced, a file with it is left as it is.
HBA_MARKER = "# gridmap: TCP needs the password"
HBA = f"""{HBA_MARKER} (scram-sha-256); the socket is in the cluster's own 0700 folder,
# reachable only by the server's OS user, for gridmap's maintenance.
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""
#: What the fast (test) cluster turns off; a durable cluster runs with PostgreSQL's defaults.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

log = logging.getLogger(__name__)


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
    """A PostgreSQL cluster living in ``data_dir`` and listening on 127.0.0.1:``port``.

    ``durable=False`` (tests only) turns fsync, full_page_writes and synchronous_commit off:
    fast, and a crash may lose or corrupt the data.
    """

    data_dir: Path
    port: int
    durable: bool = field(default=True, kw_only=True)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()  # the tools run from "/" (see _run)

    @property
    def pgdata(self) -> Path:
        """The cluster's folder: ``data_dir/pg``, or, when the server runs as ``postgres`` and cannot
        enter ``data_dir`` (e.g. a project under /root), a folder under /var/tmp named after it."""
        if os.geteuid() == 0 and not _enterable_by_all(self.data_dir):
            digest = hashlib.sha1(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
            return FALLBACK_HOME / digest / "pg"
        return self.data_dir / "pg"

    @property
    def password_file(self) -> Path:
        """The generated password of the ``gridmap`` role: ``data_dir/password``, mode 0600."""
        return self.data_dir / "password"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL, password included."""
        if not self.password_file.exists():
            raise DatabaseUnavailable(
                f"the local database in {self.data_dir} has no password yet (made by an older gridmap, "
                "which trusted every connection); run `gridmap db up` once to secure it"
            )
        return f"postgresql+psycopg2://{DB_USER}:{self._password()}@127.0.0.1:{self.port}/{DB_NAME}"

    def _password(self) -> str:
        return self.password_file.read_text().strip()

    def _run(self, args: list[str], check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        cmd = [str(find_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # /usr/sbin is not on every root PATH (e.g. `su` without `-`).
            runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
            if runuser is None:
                raise DatabaseUnavailable("runuser (util-linux) not found: needed to run PostgreSQL as postgres")
            cmd = [runuser, "-u", "postgres", "--", *cmd]
        # cwd="/": the postgres user may not enter the caller's folder (a clone in `mktemp -d`); the
        # tools then print "could not change directory", which would hide the real error.
        proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin, cwd="/")
        if check and proc.returncode != 0:
            raise DatabaseUnavailable(
                f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def _psql(self, sql: str) -> str:
        """Run ``sql`` as the superuser over the cluster's socket (SQL on stdin, so a password never
        shows in a process list); returns the unaligned output."""
        proc = self._run(["psql", "-h", str(self.pgdata), "-p", str(self.port), "-U", DB_USER,
                          "-d", "postgres", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"], stdin=sql)
        return proc.stdout.strip()

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        home = self.pgdata.parent
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for folder in {self.data_dir, home, FALLBACK_HOME} & {self.data_dir, home, *home.parents}:
                folder.chmod(0o755)
            os.chown(home, pg.pw_uid, pg.pw_gid)

    def _write_private(self, path: Path, text: str, *, for_server: bool) -> None:
        """Write ``text`` to ``path`` with mode 0600, owned by us or (``for_server``) the server's OS user."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        if for_server and os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(tmp, pg.pw_uid, pg.pw_gid)
        tmp.replace(path)

    def _ensure_password_file(self) -> bool:
        """Generate the password unless it exists; True when it was generated now."""
        if self.password_file.exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_private(self.password_file, secrets.token_urlsafe(24) + "\n", for_server=False)
        return True

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._run(["pg_ctl", "status", "-D", str(self.pgdata)], check=False).returncode == 0

    def init(self) -> None:
        """initdb the cluster (password on TCP) unless it exists; :meth:`start` sets the password."""
        bindir = find_bindir()
        check_postgis(bindir)
        if self.initialised():
            return
        self._prepare_dir()
        self._run(["initdb", "-D", str(self.pgdata), "-U", DB_USER, "--auth-local=trust",
                   "--auth-host=scram-sha-256",
                   "--encoding=UTF8", "--locale=C.UTF-8", *([] if self.durable else ["--no-sync"])])

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and create the database if needed.

        A cluster made by an older gridmap (trust on TCP, fsync off) is brought up to date here:
        a password is generated and set, pg_hba.conf asks for it, and a server still running
        with durability off is restarted with PostgreSQL's defaults. The data is kept.
        """
        existed = self.initialised()
        self.init()
        generated = self._ensure_password_file()
        hba_replaced = self._write_hba()
        if existed and hba_replaced:
            log.warning("本地数据库 %s 改为 TCP 连接需要密码（见 %s）(the local database now asks for a "
                        "password on TCP)", self.data_dir, self.password_file)
        if self.running() and self._runs_fast() == self.durable:
            log.warning("重启本地数据库：持久化设置%s (restarting the local database with durability %s)",
                        "恢复默认" if self.durable else "关闭", "on" if self.durable else "off")
            self.stop()
        if not self.running():
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                    f"-c unix_socket_directories={self.pgdata} -c max_connections=100 "
                    "-c shared_buffers=256MB")
            if not self.durable:
                opts += "".join(f" -c {name}={value}" for name, value in FAST_SETTINGS.items())
            log_file = self.pgdata / "server.log"
            started = self._run(["pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(self.pgdata),
                                 "-l", str(log_file), "-o", opts], check=False)
            if started.returncode != 0:
                tail = log_file.read_text(errors="replace").splitlines()[-5:] if log_file.exists() else []
                raise DatabaseUnavailable(
                    f"PostgreSQL did not start on 127.0.0.1:{self.port} ({log_file}): "
                    + " | ".join(tail or [started.stderr.strip()])
                    + " — is another server on that port? choose one with GRIDMAP_PG_PORT")
        elif hba_replaced:
            self._psql("SELECT pg_reload_conf();")
        self._wait_ready(timeout)
        if generated or not self._has_password():
            # Only [A-Za-z0-9_-] (token_urlsafe): nothing to quote.
            self._psql(f"ALTER ROLE {DB_USER} PASSWORD '{self._password()}';")
        self._create_database()

    def _write_hba(self) -> bool:
        """Write gridmap's pg_hba.conf unless the cluster has it; True when it was replaced."""
        hba = self.pgdata / "pg_hba.conf"
        current = hba.read_text() if hba.exists() else ""
        if current.startswith(HBA_MARKER):
            return False
        if current:
            backup = hba.with_name("pg_hba.conf.before-gridmap")
            if not backup.exists():
                self._write_private(backup, current, for_server=True)
        self._write_private(hba, HBA, for_server=True)
        return True

    def _runs_fast(self) -> bool:
        """Whether the running server was started with durability turned off (by ``durable=False``,
        or by an older gridmap); settings a user made in postgresql.conf do not count."""
        names = ", ".join(f"'{n}'" for n in FAST_SETTINGS)
        off = self._psql(f"SELECT count(*) FROM pg_settings WHERE name IN ({names}) "
                         "AND setting = 'off' AND source = 'command line';")
        return int(off) > 0

    def _has_password(self) -> bool:
        return self._psql(f"SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '{DB_USER}';") == "t"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], check=False)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise DatabaseUnavailable(f"PostgreSQL did not accept connections on port {self.port}")

    def _create_database(self) -> None:
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';") != "1":
            self._psql(f"CREATE DATABASE {DB_NAME};")

    def stop(self) -> None:
        if self.running():
            self._run(["pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w"])

    def destroy(self) -> None:
        """Stop the server and delete its data folder (password included)."""
        self.stop()
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
