"""RFC 9457 problem details (`application/problem+json`) for every error the service answers.

Handlers cover our own `Problem` exceptions, FastAPI's validation errors (422, naming each offending field),
Starlette's HTTP errors (404, 405, …) and anything unexpected (500 without internals, with the correlation id
so the log line can be found). Both services install these handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from falcone.http.middleware import correlation_id

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class Problem(Exception):  # noqa: N818 (it is rendered as a problem, not raised as an error class name)
    """`headers` go on the response (e.g. `Retry-After` on a 429 or 503); `extensions` into the body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.type, self.extensions = status, detail, type_, extensions
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    detail: str,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": type_,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "correlation_id": correlation_id(request),
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(request, error.status, error.detail, error.type, error.headers, **error.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(part) for part in item.get("loc", ())],
                "message": item.get("msg", ""),
                "type": item.get("type", ""),
            }
            for item in error.errors()
        ]
        return problem_response(request, 422, "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(request, error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _error: Exception) -> JSONResponse:
        return problem_response(request, 500, "an unexpected error occurred; quote the correlation id to support")


# FastAPI's `responses=` documentation of a route (status → description/model).
Responses = dict[int | str, dict[str, Any]]

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}


def problem_responses(*statuses: int) -> Responses:
    """OpenAPI documentation of problem answers every route may give (e.g. 400 malformed request, 401, 422)."""
    return {
        status: {"description": TITLES[status], "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }
