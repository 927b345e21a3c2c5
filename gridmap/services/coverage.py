"""The coverage service (网格查询服务): the one query every caller asks — who covers this point or address.

Like mapit's ``AreaManager.by_location``, one function answers for every
view: :func:`lookup` (``/v1/lookup``, ``/maps/lookup``, the map pages'
"find my grid", ``gridmap lookup``, ``gridmap map lookup``, and any engine
that routes by location, such as events) and :func:`lookup_rows` for
batches. Each does the same steps: resolve the address in the one gazetteer,
find the grid of the point in the coverage index (one edge-distance rule),
build the answer, and last apply :func:`~gridmap.coverage.answer.present`
for the caller's role (the one privacy rule; strict-JSON values)::

    source = Cached(cache, opener)                   # or OneShot(opener) in a short-lived process
    answer = lookup(source, Query(address="馨里苑2栋"), role="dispatcher")
    answer["grid"]["code"]

Errors: ``InvalidInput`` for a malformed query, ``AddressNotFound``,
``NoCoveringGrid`` (with the nearest grid), ``OutsideServiceArea``, and
``AmbiguousLocation`` when an address names several grids (its ``choices``
list them, already filtered for the role).

Where the index comes from is a *source*, a loading strategy that never
changes the answer: :class:`Cached` keeps the current generation whole in
memory (:class:`CoverageCache`, re-checked at most once per ``max_age``
seconds with one cheap query) and loads past generations or other plans by
slice; :class:`OneShot` loads only the slice around the point (the CLI).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from gridmap.address import MAX_LENGTH
from gridmap.coverage.address import AddressBook, resolve_address
from gridmap.coverage.answer import address_answer, point_answer, present
from gridmap.coverage.batch import batch_answers
from gridmap.coverage.index import CoverageIndex
from gridmap.errors import AmbiguousLocation, InvalidInput, NotFound
from gridmap.storage.coverage import (
    address_fingerprint,
    fingerprint,
    generation_at,
    load_coverage,
    plan_generation,
)
from gridmap.storage.db import UNAVAILABLE
from gridmap.storage.gazetteer import load_address_book

Opener = Callable[[], AbstractContextManager[Connection]]
NO_PLAN = "no plan has been published yet; publish one with `gridmap publish PLAN`"


# ---------------------------------------------------------------- the question


@dataclass(frozen=True)
class Query:
    """What a caller asks: a coordinate in a named CRS, or an address text.

    ``at`` answers from the generation current then; ``plan`` from a plan
    that is not the current one (a draft drawn on a map). Malformed queries
    raise InvalidInput naming what is missing.
    """

    lon: float | None = None
    lat: float | None = None
    crs: str | None = None
    address: str | None = None
    at: datetime | None = None
    plan: str | None = None

    def __post_init__(self) -> None:
        if self.address is not None:
            if self.lon is not None or self.lat is not None:
                raise InvalidInput("give either address or lon/lat, not both")
            if not self.address.strip():
                raise InvalidInput("address is empty")
            if len(self.address) > MAX_LENGTH:
                raise InvalidInput(f"address has {len(self.address)} characters; at most {MAX_LENGTH} allowed")
            return
        if self.lon is None or self.lat is None:
            raise InvalidInput("give lon and lat (with crs), or address")
        if self.crs is None or not str(self.crs).strip():
            raise InvalidInput("crs is required with lon/lat: wgs84, cgcs2000, gcj02 (Amap) or bd09 (Baidu)")


# ---------------------------------------------------------------- sources


class Source(Protocol):
    """Where the index and the gazetteer come from (a loading strategy; answers do not depend on it)."""

    def ready(self, query: Query) -> CoverageIndex | None:
        """An index in memory that answers this coordinate query without the database, if any."""

    def addresses(self) -> AddressBook:
        """The gazetteer."""

    def index(self, query: Query, near: tuple[float, float]) -> CoverageIndex:
        """An index that answers ``query`` at least around ``near`` (CGCS2000 lon, lat)."""


class CoverageCache:
    """The current generation's CoverageIndex and AddressBook, re-checked at most every ``max_age`` s.

    Readers that find it fresh never touch the database. A changed
    fingerprint (publish, new posts or officer links, edits) rebuilds the
    index while the old one keeps answering. While the database is away
    (a check fails with one of ``UNAVAILABLE``) the last known index and
    gazetteer keep answering, :attr:`offline_since` says since when, and
    the next check after ``max_age`` seconds tries again.
    """

    def __init__(self, edge_m: float = 30.0, max_age: float = 1.0, historic: int = 2) -> None:
        self.edge_m = edge_m
        self.max_age = max_age
        self.index: CoverageIndex | None = None
        self.book: AddressBook | None = None
        self._key: tuple | None = None
        self._book_key: tuple | None = None
        self._checked = 0.0
        self._book_checked = 0.0
        self._lock = threading.Lock()
        self._historic: OrderedDict[int, CoverageIndex] = OrderedDict()
        self._historic_size = historic
        self.offline_since: float | None = None  # time.time() of the first failed check while the database is away

    def fresh(self) -> CoverageIndex | None:
        """The current index if it was checked within ``max_age`` seconds, else None."""
        if self.index is not None and time.monotonic() - self._checked < self.max_age:
            return self.index
        return None

    def covers(self, at: datetime | None) -> CoverageIndex | None:
        """The fresh current index if it also answers for ``at``."""
        index = self.fresh()
        if index is None or at is None:
            return index
        gen = index.data.generation
        start = datetime.fromisoformat(gen["valid_from"])
        return index if at >= start else None

    def current(self, opener: Opener) -> CoverageIndex:
        """The current generation's index, rebuilt if the database changed since it was built.

        While one thread checks or rebuilds, the others keep answering from the old index.
        """
        if self.fresh() is not None:
            return self.index
        if not self._lock.acquire(blocking=self.index is None):
            return self.index
        try:
            if self.fresh() is not None:
                return self.index
            try:
                with opener() as conn:
                    key = fingerprint(conn)
                    if key != self._key or self.index is None:
                        generation = generation_at(conn)
                        if generation is None:
                            raise NotFound(NO_PLAN)
                        self.index = CoverageIndex(load_coverage(conn, generation), self.edge_m)
                        self._key = key
            except UNAVAILABLE:
                if self.index is None:
                    raise
                self._went_offline()
            else:
                self.offline_since = None
            self._checked = time.monotonic()
            return self.index
        finally:
            self._lock.release()

    def addresses(self, opener: Opener) -> AddressBook:
        """The gazetteer, rebuilt when addresses, compounds or admin names changed."""
        with self._lock:
            if self.book is not None and time.monotonic() - self._book_checked < self.max_age:
                return self.book
            try:
                with opener() as conn:
                    key = address_fingerprint(conn)
                    if key != self._book_key or self.book is None:
                        self.book = load_address_book(conn)
                        self._book_key = key
            except UNAVAILABLE:
                if self.book is None:
                    raise
                self._went_offline()
            self._book_checked = time.monotonic()
            return self.book

    def _went_offline(self) -> None:
        if self.offline_since is None:
            self.offline_since = time.time()

    def served_from(self) -> dict:
        """What an answer given now carries while the database is away (else nothing)."""
        if self.offline_since is None or self.index is None:
            return {}
        return {"served_from": "cache", "cache_generation": self.index.data.generation.get("id")}

    def historic(self, opener: Opener, generation: dict, at: datetime) -> CoverageIndex:
        """A whole past generation (for batches), a few kept in memory."""
        with self._lock:
            if generation["id"] in self._historic:
                self._historic.move_to_end(generation["id"])
                return self._historic[generation["id"]]
        with opener() as conn:
            index = CoverageIndex(load_coverage(conn, generation, at=at), self.edge_m)
        with self._lock:
            self._historic[generation["id"]] = index
            while len(self._historic) > self._historic_size:
                self._historic.popitem(last=False)
        return index


class Cached:
    """The API's source: the current generation whole in a :class:`CoverageCache`; past generations
    and other plans by the slice around the point (whole, for batches)."""

    def __init__(self, cache: CoverageCache, opener: Opener) -> None:
        self.cache = cache
        self.opener = opener

    def ready(self, query: Query) -> CoverageIndex | None:
        if query.plan is not None or query.address is not None:
            return None
        return self.cache.covers(query.at)

    def addresses(self) -> AddressBook:
        return self.cache.addresses(self.opener)

    def index(self, query: Query, near: tuple[float, float]) -> CoverageIndex:
        if query.plan is None:
            current = self.cache.covers(query.at) or self.cache.current(self.opener)
            if query.at is None or _start(current) <= query.at:
                return current
        elif query.at is None and (fresh := self.cache.fresh()) is not None \
                and fresh.data.generation["plan"] == query.plan:
            return fresh
        with self.opener() as conn:
            generation = _generation(conn, at=query.at, plan=query.plan)
            return CoverageIndex(load_coverage(conn, generation, at=query.at, near=near), self.cache.edge_m)

    def whole(self, at: datetime | None) -> CoverageIndex:
        """The whole generation current at ``at`` (batches): the cached current one, or a past one."""
        current = self.cache.covers(at) or self.cache.current(self.opener)
        if at is None or _start(current) <= at:
            return current
        with self.opener() as conn:
            generation = _generation(conn, at=at)
        return self.cache.historic(self.opener, generation, at)


class OneShot:
    """A short-lived process's source (the CLI): only the slice around the point is loaded, nothing kept."""

    def __init__(self, opener: Opener, edge_m: float = 30.0) -> None:
        self.opener = opener
        self.edge_m = edge_m

    def ready(self, query: Query) -> CoverageIndex | None:
        return None

    def addresses(self) -> AddressBook:
        with self.opener() as conn:
            return load_address_book(conn)

    def index(self, query: Query, near: tuple[float, float]) -> CoverageIndex:
        with self.opener() as conn:
            generation = _generation(conn, at=query.at, plan=query.plan)
            return CoverageIndex(load_coverage(conn, generation, at=query.at, near=near), self.edge_m)


def _start(index: CoverageIndex) -> datetime:
    return datetime.fromisoformat(index.data.generation["valid_from"])


def _generation(conn: Connection, *, at: datetime | None, plan: str | None = None) -> dict:
    """The generation that answers: ``plan``'s, or the one current at ``at`` (default now)."""
    if plan is not None:
        return plan_generation(conn, plan)
    generation = generation_at(conn, at)
    if generation is None:
        raise NotFound(NO_PLAN if at is None else f"no generation was current at {at.isoformat()}")
    return generation


# ---------------------------------------------------------------- the query


def lookup(source: Source, query: Query, *, role: str) -> dict:
    """Who covers the point or address of ``query``, as a caller of ``role`` may see it.

    The answer of :func:`~gridmap.coverage.answer.answer` (grid, admin and
    party chains, staff, officers, service points, edge and neighbours);
    AmbiguousLocation (choices filtered for ``role``) when an address names
    several grids.
    """
    from gridmap.crs import to_cgcs2000

    if query.address is not None:
        resolved = resolve_address(source.addresses(), query.address)
        index = source.index(query, (resolved.location["lon"], resolved.location["lat"]))
        try:
            found = address_answer(index, resolved)
        except AmbiguousLocation as exc:
            raise AmbiguousLocation(exc.detail, present(exc.choices, role)) from None
    else:
        index = source.ready(query)
        if index is None:
            x, y = to_cgcs2000(query.lon, query.lat, query.crs)
            index = source.index(query, (float(x), float(y)))
        found = point_answer(index, query.lon, query.lat, query.crs)
    return present(found, role)


def lookup_rows(source: Cached, rows: list, *, at: datetime | None = None, role: str,
                chunk: int = 20_000) -> Iterator[dict]:
    """Batch answers in input order, chunk by chunk; each bad row yields its own error row.

    The index is found before the first answer, so a missing generation raises here, not mid-stream.
    """
    index = source.whole(at)
    book: list[AddressBook] = []

    def addresses() -> AddressBook:
        if not book:
            book.append(source.addresses())
        return book[0]

    def answers() -> Iterator[dict]:
        for start in range(0, len(rows), chunk):
            for row in batch_answers(index, rows[start : start + chunk], addresses):
                yield present(row, role)

    return answers()


def lookup_once(opener: Opener, *, lon: float | None = None, lat: float | None = None, crs: str | None = None,
                address: str | None = None, at: datetime | None = None, edge_m: float = 30.0,
                role: str) -> dict:
    """One answer loading only the slice around the point (:class:`OneShot`; the CLI)."""
    query = Query(lon=lon, lat=lat, crs=crs, address=address, at=at)
    return lookup(OneShot(opener, edge_m), query, role=role)
