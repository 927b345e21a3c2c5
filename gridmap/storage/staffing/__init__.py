"""Staffing in PostGIS, by concern.

- :mod:`.inputs`: what the staffing engine reads for a scope;
- :mod:`.assignment`: the stored assignment, read and written with its history;
- :mod:`.roster`: people added, changed and retired, and the reads the API shows;
- :mod:`.posts`: single posts opened, changed and closed.

The public names are re-exported here, so ``from gridmap.storage import staffing``
then ``staffing.read_assignment(...)`` reads as before.
"""

from gridmap.storage.staffing.assignment import read_assignment, read_current, stored_org_id, write_assignment
from gridmap.storage.staffing.inputs import assign_inputs, read_roster, scope_communities
from gridmap.storage.staffing.posts import close_post, open_post, post_record, update_post
from gridmap.storage.staffing.roster import (
    create_staff,
    grid_staff,
    list_staff,
    officer_compounds,
    retire_staff,
    staff_history,
    staff_record,
    stored_codes,
    update_staff,
    write_roster,
)

__all__ = [
    "assign_inputs", "close_post", "create_staff", "grid_staff", "list_staff", "officer_compounds", "open_post",
    "post_record",
    "read_assignment", "read_current", "read_roster", "retire_staff", "scope_communities", "staff_history",
    "staff_record", "stored_codes", "stored_org_id", "update_post", "update_staff", "write_assignment",
    "write_roster",
]
