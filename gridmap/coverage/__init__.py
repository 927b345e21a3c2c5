"""Coverage (覆盖): which grid, party branch, staff and officers cover a point or an address.

Pure: storage hands in a :class:`CoverageData` snapshot of one generation;
:class:`CoverageIndex` answers point queries, :mod:`answer` builds the full
answer (or the choices of an ambiguous address) and :func:`answer.present`
shows it as the caller's role may see it (:mod:`privacy`, the one phone
rule); :mod:`batch` answers many. ``gridmap.services.coverage`` is the
entry point every caller uses.
"""
