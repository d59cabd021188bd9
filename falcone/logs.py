"""Logs of both services: JSON lines on stderr through structlog, one handler for structlog's loggers and the
standard library's (uvicorn, aiokafka, asyncpg), so every line is JSON and carries the request's bound context
(the correlation id, the caller) while it is served."""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """JSON lines on `stream` (stderr) for structlog's loggers and the standard library's (uvicorn, aiokafka).

    structlog hands its events to the standard library, so one handler formats both and the level applies to
    both. Run uvicorn with `access_log=False`: the request middleware writes the access lines.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a reconfiguration (tests) reaches loggers that modules created at import.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # HTTP clients log every call at INFO (health probes, Vault reads): noise next to our access lines.
    for name in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
