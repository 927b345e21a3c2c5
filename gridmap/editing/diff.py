"""What differs between two plans over a set of communities: moved units, grids added, removed
and changed, codes retired and new. Pure: the caller reads both plans' members and grids."""

from __future__ import annotations

Unit = tuple[str, "str | None"]


def compare(a_members: dict[Unit, tuple[str, int]], b_members: dict[Unit, tuple[str, int]],
            a_grids: dict[str, dict], b_grids: dict[str, dict]) -> dict:
    """The diff of plan A to plan B: ``compounds_moved`` ({compound_id, building_id, from, to,
    households}: a unit in another grid, or in a grid only one side has), ``grids_added`` /
    ``grids_removed`` (codes only B / only A has), ``grids_changed`` (codes both have with other
    members, households or polygon), ``grids_unchanged`` (count), ``codes_retired``, ``codes_new``."""
    moved = []
    for unit in sorted(set(a_members) | set(b_members), key=lambda u: (u[0], u[1] or "")):
        was, now = a_members.get(unit), b_members.get(unit)
        if (was and was[0]) != (now and now[0]):
            moved.append({"compound_id": unit[0], "building_id": unit[1], "from": was[0] if was else None,
                          "to": now[0] if now else None, "households": (now or was)[1]})
    added = sorted(set(b_grids) - set(a_grids))
    removed = sorted(set(a_grids) - set(b_grids))
    touched = {m["from"] for m in moved} | {m["to"] for m in moved}
    both = sorted(set(a_grids) & set(b_grids))
    changed = [c for c in both if c in touched or a_grids[c]["households"] != b_grids[c]["households"]
               or a_grids[c].get("shape") != b_grids[c].get("shape")]
    return {"compounds_moved": moved, "grids_added": added, "grids_removed": removed, "grids_changed": changed,
            "grids_unchanged": len(both) - len(changed), "codes_retired": removed, "codes_new": added,
            "households_moved": sum(m["households"] for m in moved)}
