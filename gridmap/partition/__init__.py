"""The partitioning engine (网格划分): communities → grids under size and boundary rules.

Pure: GeoDataFrames in, a :class:`PartitionResult` out; no database, no HTTP,
no settings. See :func:`partition`.
"""

from gridmap.partition.crs import metric_crs
from gridmap.partition.engine import partition
from gridmap.partition.report import PartitionResult
from gridmap.partition.rules import RURAL, URBAN, Rules, Violation

__all__ = ["partition", "Rules", "PartitionResult", "Violation", "metric_crs", "URBAN", "RURAL"]
