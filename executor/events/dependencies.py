from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.events.service import EventsService


async def events_service(request: Request) -> EventsService:
    """Async: FastAPI would run a plain function in its thread pool, on every request."""
    service: EventsService = request.app.state.events
    return service


Events = Annotated[EventsService, Depends(events_service)]
