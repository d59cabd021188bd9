from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.objects.service import ObjectsService


async def objects_service(request: Request) -> ObjectsService:
    """Async: FastAPI would run a plain function in its thread pool, on every request."""
    service: ObjectsService = request.app.state.objects
    return service


Objects = Annotated[ObjectsService, Depends(objects_service)]
