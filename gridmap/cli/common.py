"""What every ``gridmap`` sub-command shares: settings, the engine, consoles and the error exit."""

from __future__ import annotations

import typer
from rich.console import Console

from gridmap.config import Settings
from gridmap.errors import GridmapError

console = Console(stderr=True)
out = Console()


def settings() -> Settings:
    return Settings()


def engine(start: bool = False):
    from gridmap.storage import connect_url, make_engine

    s = settings()
    return make_engine(connect_url(s.database_url, s.data_dir, s.pg_port, start=start))


def fail(exc: GridmapError) -> None:
    console.print(f"[bold red]error[/] ({exc.code}): {exc.detail}")
    raise typer.Exit(code=2)


def run(fn):
    """Call ``fn`` turning domain errors into a clear message and exit code 2."""
    try:
        return fn()
    except GridmapError as exc:
        fail(exc)


def safe_url(url: str) -> str:
    """A database URL with the password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
