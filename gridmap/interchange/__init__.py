"""Interchange files (DESIGN.md §4): layer specs, reading and checking, writing, staff rosters."""

from gridmap.interchange.read import Interchange, Repair, read_interchange
from gridmap.interchange.write import write_interchange

__all__ = ["Interchange", "Repair", "read_interchange", "write_interchange"]
