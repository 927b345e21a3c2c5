"""scripts/install.sh on a stock Debian/Ubuntu Python: the Debian-packaged ``/usr/bin/python3``,
whose stdlib carries ``EXTERNALLY-MANAGED`` (PEP 668), so pip refuses to install into it.

The script runs in a copy of the project with only the system directories on PATH (no pyenv),
as a newcomer's ``make demo`` would, and installs gridmap with all its dependencies from the
configured index into the copy's own ``.venv/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROJECT_FILES = ("pyproject.toml", "README.md", "gridmap", "api", "scripts")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Copy:
    root: Path
    first_run: subprocess.CompletedProcess
    system_python: Path
    system_sites_before: dict[str, tuple[int, int]]


def _run(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    # PIP_COMPILE=0: no .pyc files at install time (a cache Python writes on first import anyway),
    # the one liberty taken against a newcomer's run, to keep this test near a minute and a half.
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "PIP_COMPILE": "0"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _system_python() -> Path:
    """The python3 a stock Debian has on PATH; fails in CI (skips elsewhere) if it is not Debian's."""
    found = shutil.which("python3", path=SYSTEM_PATH)
    reason = None
    if found is None:
        reason = "no python3 on the system PATH"
    else:
        stdlib = subprocess.run([found, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if not Path(stdlib, "EXTERNALLY-MANAGED").exists():
            reason = f"{found} is not externally managed ({stdlib}/EXTERNALLY-MANAGED missing)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: .ci/run installs Debian's python3 and python3-venv")
        pytest.skip(reason)
    return Path(found)


def _site_dirs(python: Path) -> list[Path]:
    code = ("import site, sysconfig; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages(), "
            "sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    return sorted({Path(line) for line in out.split()})


def _snapshot(dirs: list[Path]) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``dirs`` with its size and mtime. ``__pycache__`` is left out:
    the system python may byte-compile its own modules when it starts; pip would add packages."""
    seen = {}
    for top in dirs:
        for folder, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            for name in [*subdirs, *files]:
                path = os.path.join(folder, name)
                st = os.lstat(path)
                seen[path] = (st.st_size, st.st_mtime_ns if name in files else 0)
        if top.exists():
            seen[str(top)] = (0, 0)
    return seen


def _scratch_dir() -> str | None:
    """Memory (/dev/shm) when it has room: writing and deleting the venv's ~20,000 files there takes
    seconds, against half a minute on a disk mounted with ``discard``."""
    shm = "/dev/shm"
    if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * 2**30:
        return shm
    return None


@pytest.fixture(scope="module")
def stock_install() -> Iterator[Copy]:
    python = _system_python()
    sites = _site_dirs(python)
    before = _snapshot(sites)
    root = Path(tempfile.mkdtemp(prefix="gridmap-install-", dir=_scratch_dir()))
    try:
        for name in PROJECT_FILES:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy2(src, root / name)
        first = _run(["bash", "scripts/install.sh"], root)
        yield Copy(root, first, python, before)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_install_builds_the_project_venv_from_the_externally_managed_python(stock_install: Copy) -> None:
    first = stock_install.first_run
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "created the virtual environment .venv" in first.stdout
    venv_python = stock_install.root / ".venv" / "bin" / "python"
    probe = _run([str(venv_python), "-c",
                  "import sys, gridmap, geopandas, api.app; "
                  "print(sys.prefix, sys.base_prefix, sys._base_executable, gridmap.__file__, sep='\\n')"],
                 stock_install.root)
    assert probe.returncode == 0, probe.stderr
    prefix, base_prefix, base_executable, gridmap_file = probe.stdout.split("\n")[:4]
    assert Path(prefix) == stock_install.root / ".venv"
    assert base_prefix == "/usr"  # Debian's python, not pyenv's
    assert os.path.realpath(base_executable) == os.path.realpath(stock_install.system_python)
    assert Path(gridmap_file).is_relative_to(stock_install.root)  # the copy, editable
    cli = _run([str(stock_install.root / ".venv" / "bin" / "gridmap"), "--help"], stock_install.root)
    assert cli.returncode == 0 and "demo" in cli.stdout, cli.stderr
    # Nothing went into the system Python's site-packages (nor the user's).
    assert _snapshot(_site_dirs(stock_install.system_python)) == stock_install.system_sites_before


def test_a_second_run_installs_nothing(stock_install: Copy) -> None:
    assert stock_install.first_run.returncode == 0
    stamp = stock_install.root / ".venv" / ".gridmap-installed"
    mtime = stamp.stat().st_mtime_ns
    again = _run(["bash", "scripts/install.sh"], stock_install.root, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stdout and "created" not in again.stdout, again.stdout
    assert stamp.stat().st_mtime_ns == mtime


def test_a_failing_pip_fails_the_install_with_its_error(stock_install: Copy) -> None:
    assert stock_install.first_run.returncode == 0
    pyproject = stock_install.root / "pyproject.toml"
    good = pyproject.read_text()
    try:
        # A dependency no index can satisfy: pip must fail, and its error must reach the user.
        pyproject.write_text(good.replace('"numpy==', '"numpy>=2,<0,!=', 1))
        broken = _run(["bash", "scripts/install.sh"], stock_install.root, timeout=300)
        assert broken.returncode != 0
        assert "numpy" in broken.stderr and "ERROR" in broken.stderr, broken.stderr[-3000:]
    finally:
        pyproject.write_text(good)
