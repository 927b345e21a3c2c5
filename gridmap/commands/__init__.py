"""Sub-commands of the ``gridmap`` CLI, one module per area; each registers on ``gridmap.cli.app``."""
