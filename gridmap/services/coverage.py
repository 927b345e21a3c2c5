"""The coverage cache: the current generation's index and gazetteer, kept fresh, shared by API and CLI.

The current generation is loaded whole into a :class:`~gridmap.coverage.index.CoverageIndex`
and re-checked at most once per ``max_age`` seconds with one cheap query
(:func:`gridmap.storage.coverage.fingerprint`). A historic ``at=`` lookup
loads only a slice around the point.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection

from gridmap.coverage.address import AddressBook
from gridmap.coverage.answer import address_answer, point_answer
from gridmap.coverage.batch import batch_answers
from gridmap.coverage.index import CoverageIndex
from gridmap.errors import NotFound
from gridmap.storage.coverage import address_fingerprint, fingerprint, generation_at, load_coverage
from gridmap.storage.gazetteer import load_address_book

Opener = Callable[[], AbstractContextManager[Connection]]


class CoverageCache:
    """The current generation's CoverageIndex and AddressBook, re-checked at most every ``max_age`` s.

    Readers that find it fresh never touch the database. A changed
    fingerprint (publish, new posts or officer links, edits) rebuilds the
    index while the old one keeps answering.
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
            with opener() as conn:
                key = fingerprint(conn)
                if key != self._key or self.index is None:
                    generation = generation_at(conn)
                    if generation is None:
                        raise NotFound("no plan has been published yet; publish one with `gridmap publish PLAN`")
                    self.index = CoverageIndex(load_coverage(conn, generation), self.edge_m)
                    self._key = key
            self._checked = time.monotonic()
            return self.index
        finally:
            self._lock.release()

    def addresses(self, opener: Opener) -> AddressBook:
        """The gazetteer, rebuilt when addresses, compounds or admin names changed."""
        with self._lock:
            if self.book is not None and time.monotonic() - self._book_checked < self.max_age:
                return self.book
            with opener() as conn:
                key = address_fingerprint(conn)
                if key != self._book_key or self.book is None:
                    self.book = load_address_book(conn)
                    self._book_key = key
            self._book_checked = time.monotonic()
            return self.book

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


# ---------------------------------------------------------------- lookups


def index_for(cache: CoverageCache, opener: Opener, at: datetime | None,
              near: tuple[float, float] | None = None) -> CoverageIndex:
    """The index that answers for ``at``: the cached current one, or a historic slice/whole."""
    index = cache.covers(at) if at is not None else None
    if at is None or index is not None:
        return index or cache.current(opener)
    current = cache.current(opener)
    if datetime.fromisoformat(current.data.generation["valid_from"]) <= at:
        return current
    with opener() as conn:
        generation = generation_at(conn, at)
        if generation is None:
            raise NotFound(f"no generation was current at {at.isoformat()}")
        if near is not None:
            return CoverageIndex(load_coverage(conn, generation, at=at, near=near), cache.edge_m)
    return cache.historic(opener, generation, at)


def lookup_point(cache: CoverageCache, opener: Opener, lon: float, lat: float, crs: str = "wgs84",
                 at: datetime | None = None) -> dict:
    """The full answer for a coordinate in ``crs`` at ``at`` (default: the current generation)."""
    from gridmap.crs import to_cgcs2000

    x, y = to_cgcs2000(lon, lat, crs)
    index = index_for(cache, opener, at, near=(x, y))
    return point_answer(index, lon, lat, crs)


def lookup_address(cache: CoverageCache, opener: Opener, address: str, at: datetime | None = None) -> dict:
    """The full answer for an address text, with how it was matched."""
    from gridmap.coverage.address import resolve_address

    resolved = resolve_address(cache.addresses(opener), address)
    near = (resolved.location["lon"], resolved.location["lat"])
    return address_answer(index_for(cache, opener, at, near=near), resolved)


def lookup_rows(cache: CoverageCache, opener: Opener, rows: list, at: datetime | None = None,
                chunk: int = 20_000) -> Iterator[dict]:
    """Batch answers in input order, chunk by chunk; each bad row yields its own error row.

    The index is found before the first answer, so a missing generation raises here, not mid-stream.
    """
    index = index_for(cache, opener, at)
    book: list[AddressBook] = []

    def addresses() -> AddressBook:
        if not book:
            book.append(cache.addresses(opener))
        return book[0]

    def answers() -> Iterator[dict]:
        for start in range(0, len(rows), chunk):
            yield from batch_answers(index, rows[start : start + chunk], addresses)

    return answers()


def lookup_once(opener: Opener, *, lon: float | None = None, lat: float | None = None, crs: str = "wgs84",
                address: str | None = None, at: datetime | None = None, edge_m: float = 30.0) -> dict:
    """One answer without building the whole index: loads only the slice around the point (CLI)."""
    from gridmap.crs import to_cgcs2000
    from gridmap.coverage.address import resolve_address

    resolved = None
    with opener() as conn:
        if address is not None:
            resolved = resolve_address(load_address_book(conn), address)
            near = (resolved.location["lon"], resolved.location["lat"])
        else:
            near = to_cgcs2000(lon, lat, crs)
        generation = generation_at(conn, at)
        if generation is None:
            raise NotFound("no plan has been published yet; publish one with `gridmap publish PLAN`"
                           if at is None else f"no generation was current at {at.isoformat()}")
        index = CoverageIndex(load_coverage(conn, generation, at=at, near=near), edge_m)
    return address_answer(index, resolved) if resolved else point_answer(index, lon, lat, crs)
