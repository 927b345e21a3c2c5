"""The undo/redo stack of a plan, replayed from its append-only log.

Every change that edits grids (``EDITS``) pushes itself and clears what could be redone; an
``undo`` row pops the latest change onto the redo side, a ``redo`` row puts it back. Review steps
and the copy that made the plan are not edits: they are never undone; a ``rewrite`` (a partition
or an import wrote the grids) ends the stack.
"""

from __future__ import annotations

from collections.abc import Iterable

from gridmap.errors import InvalidTransition

#: Operations that change grids or memberships (and so can be undone).
EDITS = frozenset({"move", "split", "merge", "rebalance", "lock", "unlock"})


def replay(log: Iterable[dict]) -> tuple[list[int], list[int]]:
    """(undoable versions, redoable versions), latest last, from ``log`` rows (version, op, payload)."""
    done: list[int] = []
    undone: list[int] = []
    for row in log:
        op = row["op"]
        if op in EDITS:
            done.append(int(row["version"]))
            undone.clear()
        elif op == "undo":
            undone.append(done.pop())
        elif op == "redo":
            done.append(undone.pop())
        elif op == "rewrite":  # a partition or import rewrote the grids: nothing before it is undone
            done.clear()
            undone.clear()
    return done, undone


def to_undo(log: Iterable[dict]) -> int:
    """The version whose change an undo reverts; InvalidTransition when there is none."""
    done, _ = replay(log)
    if not done:
        raise InvalidTransition("没有可撤销的修改 (nothing to undo)")
    return done[-1]


def to_redo(log: Iterable[dict]) -> int:
    """The version whose change a redo re-applies; InvalidTransition when there is none."""
    _, undone = replay(log)
    if not undone:
        raise InvalidTransition("没有可重做的修改 (nothing to redo)")
    return undone[-1]
