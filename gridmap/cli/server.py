"""``gridmap serve`` and ``gridmap keys``."""

from __future__ import annotations

from typing import Annotated

import typer

from gridmap.cli.common import console, engine, out, run
from gridmap.errors import InvalidInput

keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the maps; ``--workers N`` starts N processes, each
    building its own coverage index (settings from the environment, GRIDMAP_*)."""
    import os

    import uvicorn

    def go():
        if workers < 1:
            raise InvalidInput(f"--workers must be at least 1, not {workers}")
        eng = engine()  # fails here, clearly, when the database is not reachable
        url = eng.url.render_as_string(hide_password=False)
        eng.dispose()
        os.environ["GRIDMAP_DATABASE_URL"] = url  # the workers' create_app() reads its settings from here
        console.print(f"serving on http://{host}:{port} with {workers} worker(s)  "
                      f"(API docs: http://{host}:{port}/docs)")
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    http="api.serving:NoDelayHTTP", log_level="warning")

    run(go)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="dispatcher | planner | approver | admin")],
    label: Annotated[str, typer.Option(help="who or what the key is for")] = "",
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from gridmap.storage.keys import create_key

    def go():
        with engine().begin() as conn:
            key = create_key(conn, role, label=label or None)
        out.print(key)
        console.print(f"created a {role} key; send it as the X-API-Key header. It is not shown again.")

    run(go)


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="the first 7 characters of the key")]) -> None:
    """Revoke keys by their printed prefix."""
    from gridmap.storage.keys import revoke_key

    def go():
        with engine().begin() as conn:
            n = revoke_key(conn, prefix)
        out.print(f"revoked {n} key(s)")

    run(go)
