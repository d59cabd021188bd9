from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from executor.documents.service import DocumentsService


async def documents_service(request: Request) -> DocumentsService:
    """Async: FastAPI would run a plain function in its thread pool, on every request."""
    service: DocumentsService = request.app.state.documents
    return service


Documents = Annotated[DocumentsService, Depends(documents_service)]
