"""Check a staffing result against the rules (GerryChain style: the rules are plain
functions in :mod:`gridmap.assign.rules`, combined here)."""

from __future__ import annotations

from collections.abc import Iterable

from gridmap.assign.result import Assignment
from gridmap.assign.rules import RULES, Rule
from gridmap.violations import Violation


def validate(assignment: Assignment, *, rules: Iterable[Rule] = RULES) -> list[Violation]:
    """Staffing rules that do not hold and are not reported as gaps."""
    return [v for rule in rules for v in rule(assignment)]
