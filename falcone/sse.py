"""Reading Server-Sent Events (the automation service's operation streams, the executor's subscriptions): the
lines of a stream grouped into events, for clients of our own APIs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    kind: str  # the `event:` field ("message" when absent)
    id: str | None
    data: Any  # the `data:` field, parsed as JSON


def events(lines: Iterable[str]) -> Iterator[Event]:
    """One Event per blank-line-terminated block that carries data; comments (heartbeats) are skipped."""
    kind, event_id, data = "message", None, None
    for line in lines:
        if not line:
            if data is not None:
                yield Event(kind, event_id, json.loads(data))
            kind, event_id, data = "message", None, None
        elif line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("id:"):
            event_id = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data = line.partition(":")[2].removeprefix(" ")
    if data is not None:
        yield Event(kind, event_id, json.loads(data))
