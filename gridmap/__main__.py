"""``python -m gridmap``: the same as the ``gridmap`` command."""

from gridmap.cli import app

app(prog_name="gridmap")
