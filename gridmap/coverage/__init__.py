"""Coverage (覆盖): which grid, party branch, staff and officers cover a point or an address.

Pure: storage hands in a :class:`CoverageData` snapshot of one generation;
:class:`CoverageIndex` answers point queries, :mod:`answer` builds the full
answer and removes what the caller may not see, :mod:`batch` answers many.
"""
