"""`python -m executor`: serve the data API (127.0.0.1 by default; FALCONE_EXECUTOR_HOST/PORT/WORKERS)."""

import uvicorn

from executor.settings import ExecutorSettings
from falcone.logs import configure_logging

settings = ExecutorSettings()
configure_logging(settings.log_level)
# Workers import the app themselves (uvicorn needs an import string for more than one), each with its own pools.
uvicorn.run(
    "executor.app:create_app",
    factory=True,
    host=settings.host,
    port=settings.port,
    workers=settings.workers,
    # The C event loop and HTTP parser: about 1.5x the requests per core of asyncio + h11 (docs/benchmarks.md).
    loop="uvloop",
    http="httptools",
    log_level=settings.log_level,
    access_log=False,  # the metrics middleware writes one JSON line per request
    log_config=None,  # keep configure_logging's JSON handlers
)
