"""Planner endpoints: partition a draft plan, publish it, read its report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import ConnDep, require
from gridmap.storage import plans
from gridmap.services.workflows import partition_plan, plan_report, scope_of

router = APIRouter(prefix="/v1/plans", tags=["plans"], dependencies=[Depends(require("planner"))])


class PartitionRequest(BaseModel):
    """Which communities to partition and under which bounds."""

    district: str | None = Field(default=None, description="6-digit district code")
    street: str | None = Field(default=None, description="9-digit street code")
    community: str | None = Field(default=None, description="12-digit community code")
    min_households: int | None = Field(default=None, ge=0, le=100_000)
    max_households: int | None = Field(default=None, gt=0, le=100_000)
    stable: bool = False
    locked: list[str] = Field(default_factory=list, max_length=100_000)


@router.post("/{plan}/partition")
def partition(plan: str, body: PartitionRequest, conn: ConnDep) -> dict:
    """Partition into draft ``plan`` and return the report (planner role)."""
    scope, code = scope_of(body.district, body.street, body.community)
    return partition_plan(conn, scope, code, plan, min_households=body.min_households,
                          max_households=body.max_households,
                          stable=body.stable, locked=frozenset(body.locked), workers=1)


@router.post("/{plan}/publish")
def publish(plan: str, conn: ConnDep) -> dict:
    """Make ``plan`` the current generation; lookups switch at once (planner role)."""
    return plans.publish(conn, plan)


@router.get("/{plan}")
def report(plan: str, conn: ConnDep) -> Annotated[dict, "plan"]:
    """A plan's status, parameters and partition report (planner role)."""
    return plan_report(conn, plan)
