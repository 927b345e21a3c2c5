"""Interchange files (DESIGN.md §4): layer specs, reading and checking, writing, staff rosters."""

from gridmap.interchange.checks import CheckOptions
from gridmap.interchange.issues import Issue
from gridmap.interchange.read import Interchange, Repair, read_interchange
from gridmap.interchange.write import write_interchange

__all__ = ["CheckOptions", "Interchange", "Issue", "Repair", "read_interchange", "write_interchange"]
