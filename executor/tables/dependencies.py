from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.tables.service import TablesService


async def tables_service(request: Request) -> TablesService:
    """Async: FastAPI would run a plain function in its thread pool, on every request."""
    service: TablesService = request.app.state.tables
    return service


Tables = Annotated[TablesService, Depends(tables_service)]
