"""``gridmap demo``: from an empty machine state to a running server with the demo district."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridmap.cli.common import console, engine, out, run, settings

DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "xinwu.gpkg"
DEMO_DISTRICT = "320214"
DEMO_PLAN = "xinwu-demo"


def demo(
    file: Annotated[Path, typer.Option(help="demo interchange file")] = DEMO_FILE,
    district: Annotated[str, typer.Option(help="district to partition")] = DEMO_DISTRICT,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    serve: Annotated[bool, typer.Option(help="start the server at the end")] = True,
) -> None:
    """Start the database, import the demo district, partition, staff, publish and serve."""
    from gridmap.storage import connect_url, migrate, plans
    from gridmap.storage.load import import_file

    def go():
        s = settings()
        url = connect_url(s.database_url, s.data_dir, s.pg_port, start=True)
        migrate.upgrade(url)
        eng = engine()
        with console.status(f"importing {file.name} ..."), eng.begin() as conn:
            report = import_file(conn, file)
        out.print("imported: " + ", ".join(f"{k} {v.inserted + v.updated + v.unchanged}"
                                           for k, v in report.layers.items()))
        with eng.begin() as conn:
            published = plans.plan_status(conn, DEMO_PLAN) in ("published", "retired")
        if not published:
            _partition_staff_and_publish(eng, district)
        else:
            out.print(f"plan {DEMO_PLAN} already published; keeping it")
            _staff(eng, district)
        if serve:
            import uvicorn

            from api.app import create_app

            out.print(f"serving the demo on http://{host}:{port}  — API docs /docs, maps /maps/coverage")
            uvicorn.run(create_app(s, eng), host=host, port=port, log_level="warning")

    run(go)


def _partition_staff_and_publish(eng, district: str) -> None:
    """Partition a draft, staff it (a plan is published only when every grid has a head), publish."""
    from gridmap.storage import plans
    from gridmap.services.workflows import partition_plan

    with Progress(TextColumn("partitioning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("communities", total=None)
        with eng.begin() as conn:
            plans.drop_draft(conn, DEMO_PLAN)
            result = partition_plan(conn, "district", district, DEMO_PLAN, workers=2,
                                    progress=lambda n: bar.advance(task, n),
                                    on_total=lambda n: bar.update(task, total=n))
    s = result["summary"]
    out.print(f"partitioned {s.get('communities')} communities into {s.get('grids')} grids "
              f"({s.get('share_within_bounds', 0):.1%} within bounds)")
    _staff(eng, district, plan=DEMO_PLAN)
    with eng.begin() as conn:
        from gridmap.services import editing

        editing.submit(conn, DEMO_PLAN, author="gridmap demo")  # the demo's street office approves it
        editing.decide(conn, DEMO_PLAN, approve=True, author="gridmap demo", reason="demo")
        published = plans.publish(conn, DEMO_PLAN, created_by="gridmap demo")
    out.print(f"published {DEMO_PLAN} as generation {published['generation']}")


def _staff(eng, district: str, plan: str | None = None) -> None:
    """Staff the demo district's grids (of ``plan``, default the current generation's) by rule."""
    from gridmap.services.workflows import assign_scope

    with console.status("assigning staff ...") as status, eng.begin() as conn:
        result = assign_scope(conn, "district", district, plan=plan,
                              progress=lambda stage: status.update(f"{stage} staff ..."))
    r = result["report"]
    out.print(f"staffed {r['grids']} grids: {r['grid_branches']} grid party branches, "
              f"{sum(r['officers_by_agency'].values())} officers on {r['compounds']} compounds, "
              f"{r['uncovered_compounds']} uncovered, {r['overloaded_officers']} overloaded")
