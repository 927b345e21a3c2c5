"""The partitioning engine (网格划分): communities → grids under size and boundary rules.

Pure: GeoDataFrames in, a :class:`PartitionResult` out; no database, no HTTP,
no settings. See :func:`partition`, and docs/partitioning.md for how it works:
territories of pieces → graph → every candidate grid → optimal exact cover (HiGHS,
CP-SAT), with proofs where the rules cannot be met.
"""

from gridmap.partition.engine import partition
from gridmap.partition.report import PartitionResult
from gridmap.partition.rules import RURAL, URBAN, Rules
from gridmap.violations import Violation

__all__ = ["partition", "Rules", "PartitionResult", "Violation", "URBAN", "RURAL"]
