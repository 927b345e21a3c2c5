"""The staffing engine (pure): grid posts "1+5+N", party branches on grids and
enforcement officers linked to compounds (属地兜底).

    from gridmap.assign import assign_staff, validate
    result = assign_staff(grids, compounds, staff, communities, streets)
    result.report(); validate(result); result.gaps
"""

from gridmap.assign.check import validate
from gridmap.assign.engine import assign_staff
from gridmap.assign.result import GAP_KINDS, Assignment
from gridmap.assign.targets import Targets, Weights
from gridmap.violations import Violation

__all__ = ["GAP_KINDS", "Assignment", "Targets", "Violation", "Weights", "assign_staff", "validate"]
