"""Planner endpoints: partition a draft plan, publish it, read its report; list and roll back generations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, Field

from api.deps import ConnDep, require
from api.routes.staffing import ActorDep
from gridmap.errors import GenerationConflict, InvalidInput, StaleVersion
from gridmap.storage import plans
from gridmap.versions import etag
from gridmap.services.workflows import partition_plan, plan_report, scope_of

router = APIRouter(prefix="/v1/plans", tags=["plans"], dependencies=[Depends(require("planner"))])
generations = APIRouter(prefix="/v1/generations", tags=["plans"])

IfMatch = Annotated[str | None, Header(description='the current generation\'s ETag, e.g. "generation-current-v3"')]


class PartitionRequest(BaseModel):
    """Which communities to partition and under which bounds."""

    district: str | None = Field(default=None, description="6-digit district code")
    street: str | None = Field(default=None, description="9-digit street code")
    community: str | None = Field(default=None, description="12-digit community code")
    min_households: int | None = Field(default=None, ge=0, le=100_000)
    max_households: int | None = Field(default=None, gt=0, le=100_000)
    stable: bool = False
    locked: list[str] = Field(default_factory=list, max_length=100_000)


class PublishRequest(BaseModel):
    """Publish anyway (``force`` with a ``reason``), and the current generation the caller saw."""

    force: bool = Field(default=False, description="publish although grids lack a head or rules gave way "
                                                   "without a proved reason (needs reason)")
    reason: str | None = Field(default=None, max_length=2000, description="why; recorded on the generation")
    generation: int | None = Field(default=None, ge=0, description="id of the current generation the caller "
                                   "saw (0: none); a different one is a 409 conflict. Or send If-Match (stale: 412).")


class RollbackRequest(BaseModel):
    """Which earlier generation to make current again (default: the one before the last publish)."""

    to: int | None = Field(default=None, ge=1, description="generation id to restore")
    reason: str | None = Field(default=None, max_length=2000, description="why; recorded on the new generation")
    generation: int | None = Field(default=None, ge=0, description="id of the current generation the caller saw")


@router.post("/{plan}/partition")
def partition(plan: str, body: PartitionRequest, conn: ConnDep) -> dict:
    """Partition into draft ``plan`` and return the report (planner role)."""
    scope, code = scope_of(body.district, body.street, body.community)
    return partition_plan(conn, scope, code, plan, min_households=body.min_households,
                          max_households=body.max_households,
                          stable=body.stable, locked=frozenset(body.locked), workers=1)


@router.post("/{plan}/publish")
def publish(plan: str, conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None,
            body: PublishRequest | None = None) -> dict:
    """Make ``plan`` the current generation: its grids replace those of its communities, every other
    community keeps its grids, codes and staff; lookups switch at once (planner role).

    Refused (409 ``publish_refused``, listing them) while grids have no grid head or rules gave way
    without a proved reason, unless ``force`` with a ``reason``; 409 ``generation_conflict`` when
    another publish got in first since the ``generation`` the body names; 412 ``stale_version`` when the
    ``If-Match`` ETag is no longer the current generation's.
    """
    body = body or PublishRequest()
    with _stale_if_matched(body.generation, if_match):
        result = plans.publish(conn, plan, expected_generation=_seen(body.generation, if_match),
                               created_by=actor, force=body.force, reason=body.reason)
    response.headers["ETag"] = plans.generation_etag({"id": result["generation"]})
    return result


@router.get("/{plan}")
def report(plan: str, conn: ConnDep, response: Response) -> Annotated[dict, "plan"]:
    """A plan's status, version, review state, parameters, communities, generations and partition (or
    import) report (planner role); the ETag ``"plan-v<version>"`` is what an edit sends as If-Match."""
    found = plan_report(conn, plan)
    response.headers["ETag"] = etag("plan", found["version"])
    return found


@generations.get("", dependencies=[Depends(require("dispatcher"))])
def list_generations(conn: ConnDep, response: Response) -> list[dict]:
    """Every generation, oldest first: its plan, period, how it began (publish or rollback), who and
    why. The ETag names the current one (send it as If-Match to publish or roll back). Dispatcher role."""
    response.headers["ETag"] = plans.generation_etag(plans.current_generation(conn))
    return plans.list_generations(conn)


@generations.get("/{generation_id}", dependencies=[Depends(require("dispatcher"))])
def generation(generation_id: int, conn: ConnDep) -> dict:
    """One generation with its record (dispatcher role)."""
    return plans.generation_record(conn, generation_id)


@generations.post("/rollback", dependencies=[Depends(require("planner"))])
def rollback(conn: ConnDep, actor: ActorDep, response: Response, if_match: IfMatch = None,
             body: RollbackRequest | None = None) -> dict:
    """Make an earlier generation's plan current again, as a new generation; history is kept (planner role)."""
    body = body or RollbackRequest()
    with _stale_if_matched(body.generation, if_match):
        result = plans.rollback(conn, to=body.to, expected_generation=_seen(body.generation, if_match),
                                created_by=actor, reason=body.reason)
    response.headers["ETag"] = plans.generation_etag({"id": result["generation"]})
    return result


_ETAG = re.compile(r'^(?:W/)?"generation-current-v(\d+)"$')


@contextmanager
def _stale_if_matched(generation: int | None, if_match: str | None) -> Iterator[None]:
    """A generation conflict found through ``If-Match`` is a 412 (stale precondition), as for every
    ETag; through the body's ``generation`` it stays a 409 conflict."""
    try:
        yield
    except GenerationConflict as exc:
        if generation is None and if_match is not None:
            raise StaleVersion(exc.detail) from exc
        raise


def _seen(generation: int | None, if_match: str | None) -> int | None:
    """The current generation the caller saw: the body's, else If-Match's; None when neither says."""
    if generation is not None or if_match is None or if_match.strip() == "*":
        return generation
    for part in if_match.split(","):
        found = _ETAG.match(part.strip())
        if found:
            return int(found[1])
    raise InvalidInput(f'If-Match {if_match.strip()} is not a generation ETag (e.g. "generation-current-v3"); '
                       "GET /v1/generations for the current one")
