from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.tables.service import TablesService


def tables_service(request: Request) -> TablesService:
    service: TablesService = request.app.state.tables
    return service


Tables = Annotated[TablesService, Depends(tables_service)]
