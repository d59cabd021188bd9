from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.identity.schemas import Identity
from executor.identity.service import IdentityResolver


async def current_identity(request: Request) -> Identity:
    resolver: IdentityResolver = request.app.state.identity
    return await resolver.resolve(request.headers)


CurrentIdentity = Annotated[Identity, Depends(current_identity)]
