"""The ``gridmap`` command line: every sub-command is registered here, in one place.

Command modules define plain functions (and their own sub-apps); none
imports this module back. Settings are read only here and in ``api/``.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from gridmap.cli import data, db, demo, events, lookup, maps, plan_edit, plans, server, staffing

app = typer.Typer(help="gridmap: grids, coverage and lookup for grid governance (网格化治理).",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress details")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


COMMANDS = {
    "import": data.import_cmd,
    "export": data.export_cmd,
    "partition": plans.partition_cmd,
    "publish": plans.publish_cmd,
    "rollback": plans.rollback_cmd,
    "generations": plans.generations_cmd,
    "plans": plans.plans_cmd,
    "lookup": lookup.lookup_cmd,
    "assign": staffing.assign_cmd,
    "serve": server.serve,
    "demo": demo.demo,
}
GROUPS = {
    "db": db.db_app,
    "map": maps.map_app,
    "keys": server.keys_app,
    "roster": staffing.roster_app,
    "plan": plan_edit.plan_app,
    "events": events.events_app,
}

for _name, _command in COMMANDS.items():
    app.command(_name)(_command)
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)
