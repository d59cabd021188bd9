from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.identity.schemas import Identity
from executor.identity.service import IdentityResolver
from executor.limits import RateLimiter


async def current_identity(request: Request) -> Identity:
    """The verified caller, within its credential's rate limit (every data route depends on this)."""
    resolver: IdentityResolver = request.app.state.identity
    identity = await resolver.resolve(request.headers)
    request.state.identity = identity  # the access log names the caller
    limiter: RateLimiter = request.app.state.limiter
    # a WebSocket handshake (no method in its scope) is a GET upgrade; the route template keys the profile lookup
    route = getattr(request.scope.get("route"), "path", request.url.path)
    limiter.take(identity, request.scope.get("method", "GET"), route)
    return identity


CurrentIdentity = Annotated[Identity, Depends(current_identity)]
