from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from falcone.plans import Plan


class ProfileOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    database: str
    storage: str
    identity: str


class PlanOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    display_name: str
    profile: ProfileOut
    capabilities: list[str]
    quotas: dict[str, int]
    tokens: dict[str, int]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        profile = plan.profile
        return cls(
            name=plan.name,
            display_name=plan.display_name,
            profile=ProfileOut(
                name=profile.name, database=profile.database, storage=profile.storage, identity=profile.identity
            ),
            capabilities=sorted(str(capability) for capability in plan.capabilities),
            quotas=plan.quotas.model_dump(),
            tokens=plan.tokens.model_dump(),
        )


class PlanList(BaseModel):
    items: list[PlanOut]
