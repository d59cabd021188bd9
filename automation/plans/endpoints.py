"""Plans: the one catalogue (falcone/catalog/plans.toml), read-only over the API."""

from __future__ import annotations

from fastapi import APIRouter

from automation.plans.schemas import PlanList, PlanOut
from falcone.http.problems import Problem
from falcone.plans import UnknownPlanError, catalog

router = APIRouter(prefix="/v1/plans", tags=["plans"])


@router.get("", response_model=PlanList)
async def list_plans() -> PlanList:
    return PlanList(items=[PlanOut.of(plan) for _, plan in sorted(catalog().plans.items())])


@router.get("/{name}", response_model=PlanOut, responses={404: {"description": "no such plan"}})
async def get_plan(name: str) -> PlanOut:
    try:
        return PlanOut.of(catalog().plan(name))
    except UnknownPlanError as error:
        raise Problem(404, str(error)) from None
