"""Who may subscribe to a stream (events, realtime): the usual credential headers, or (browsers' EventSource and
WebSocket cannot set headers) an anon key in the `apikey` query parameter. Only an anon key may travel in a URL:
it is public by design (it ships in web pages) and read-only; any other key there is refused, because URLs end up
in logs, histories and referrers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.requests import HTTPConnection

from executor.identity.dependencies import current_identity
from executor.identity.schemas import Identity
from executor.identity.service import unauthorized

QUERY_KEY = "apikey"


async def subscriber_identity(connection: HTTPConnection) -> Identity:
    """The verified caller of an SSE request or a WebSocket handshake, through the one identity dependency."""
    keys = connection.query_params.getlist(QUERY_KEY)
    headers = [*connection.headers.raw, *((QUERY_KEY.encode(), key.encode()) for key in keys)]
    # The handshake's headers, the query key among them: several different credentials are a 401 as usual.
    identity = await current_identity(Request({**connection.scope, "type": "http", "headers": headers}))
    if keys and identity.kind != "anon":
        raise unauthorized("only an anon key may be passed in the query string: send other credentials in a header")
    return identity


async def subscriber(
    request: Request,
    apikey: Annotated[str | None, Query(description="an anon key, for clients that cannot set headers")] = None,
) -> Identity:
    _ = apikey  # documented here, read with any repeats by subscriber_identity
    return await subscriber_identity(request)


Subscriber = Annotated[Identity, Depends(subscriber)]
