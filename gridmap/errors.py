"""Domain errors. ``api/errors.py`` maps each class to an HTTP status."""

from __future__ import annotations


class GridmapError(Exception):
    """Base class of every error gridmap raises on purpose."""

    code = "gridmap_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(GridmapError):
    """A request or argument is malformed (bad number, empty text, too large)."""

    code = "invalid_input"


class PartitionFailed(InvalidInput):
    """One community could not be partitioned; nothing was written for the run. ``community_code``,
    ``community_name`` and ``cause`` (the exception's type and message) name it."""

    code = "partition_failed"

    def __init__(self, detail: str, community_code: str = "", community_name: str = "", cause: str = "") -> None:
        super().__init__(detail)
        self.community_code = community_code
        self.community_name = community_name
        self.cause = cause

    def __reduce__(self) -> tuple:  # raised in a worker process, re-raised in the parent
        return (type(self), (self.detail, self.community_code, self.community_name, self.cause))


class UnknownCRS(InvalidInput):
    """A coordinate reference system that gridmap does not know."""

    code = "unknown_crs"


class OutOfRange(InvalidInput):
    """A coordinate outside its valid range or outside the service area."""

    code = "out_of_range"


class OutsideServiceArea(OutOfRange):
    """A point far outside every district and grid of the generation asked for."""


class InvalidFile(GridmapError):
    """An interchange file that cannot be imported; nothing was written.

    ``issues`` lists every problem found (``gridmap.interchange.issues.Issue``),
    ``omitted`` how many more were found than listed.
    """

    code = "invalid_file"

    def __init__(self, detail: str, issues: tuple = (), omitted: int = 0) -> None:
        super().__init__(detail)
        self.issues = tuple(issues)
        self.omitted = omitted


class InvalidBoundary(InvalidFile):
    """A geometry that is broken beyond safe repair."""

    code = "invalid_boundary"


class NotFound(GridmapError):
    """Something named by the caller does not exist."""

    code = "not_found"


class AddressNotFound(NotFound):
    """An address that matches nothing in the gazetteer."""

    code = "address_not_found"


class NoCoveringGrid(NotFound):
    """A point that lies outside every grid of the generation asked for."""

    code = "no_covering_grid"

    def __init__(self, detail: str, nearest: dict | None = None,
                 point: tuple[float, float] | None = None) -> None:
        super().__init__(detail)
        self.nearest = nearest
        self.point = point  # the CGCS2000 point that fell outside, when known


class AmbiguousLocation(GridmapError):
    """An address that names no single grid: a compound split over several grids, or candidates in
    different grids. ``choices`` lists them (grids with their codes, the compound, the candidates)."""

    code = "ambiguous"

    def __init__(self, detail: str, choices: dict) -> None:
        super().__init__(detail)
        self.choices = choices


class PlanError(GridmapError):
    """A plan operation that cannot be carried out (unknown plan, already published...)."""

    code = "plan_error"


class DatabaseUnavailable(GridmapError):
    """PostgreSQL/PostGIS is missing or not running."""

    code = "database_unavailable"


class Forbidden(GridmapError):
    """The caller's role may not do this."""

    code = "forbidden"


class Unauthorized(GridmapError):
    """An API key that is missing where required, unknown or revoked."""

    code = "unauthorized"


class PublishRefused(PlanError):
    """A plan that may not be published yet (grids without a head, violations without a proved
    reason); ``readiness`` holds the lists. ``--force --reason`` overrides it."""

    code = "publish_refused"

    def __init__(self, detail: str, readiness: object = None) -> None:
        super().__init__(detail)
        self.readiness = readiness


class GenerationConflict(PlanError):
    """Another publish or rollback changed the current generation since the caller looked."""

    code = "generation_conflict"


class PreconditionRequired(GridmapError):
    """A change to an editable resource sent without ``If-Match`` (the version the caller saw)."""

    code = "precondition_required"


class StaleVersion(GridmapError):
    """The version the caller saw (``If-Match``) is no longer the current one: someone else changed
    the resource in between. ``current`` is the resource's ETag now."""

    code = "stale_version"

    def __init__(self, detail: str, current: str | None = None) -> None:
        super().__init__(detail)
        self.current = current


class Leased(GridmapError):
    """Something another user holds a short lease on (a grid another planner is editing);
    ``holder`` names them and ``until`` when the lease ends."""

    code = "leased"

    def __init__(self, detail: str, holder: str | None = None, until: str | None = None) -> None:
        super().__init__(detail)
        self.holder = holder
        self.until = until


class InvalidTransition(GridmapError):
    """A state change the state table does not allow from the current state."""

    code = "invalid_transition"
