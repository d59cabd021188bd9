from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.realtime.service import RealtimeService


async def realtime_service(request: Request) -> RealtimeService:
    """Async: FastAPI would run a plain function in its thread pool, on every request."""
    service: RealtimeService = request.app.state.realtime
    return service


Realtime = Annotated[RealtimeService, Depends(realtime_service)]
