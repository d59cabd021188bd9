"""`python -m automation`: serve the automation API (127.0.0.1 by default; FALCONE_AUTOMATION_* settings).
Logs are JSON lines on stderr (structlog), one access line per request."""

import uvicorn

from automation.app import create_app
from automation.settings import AutomationSettings
from falcone.logs import configure_logging

settings = AutomationSettings()
configure_logging(settings.log_level)
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_level=settings.log_level,
    access_log=False,  # RequestObservationMiddleware logs each request, with its correlation id
    log_config=None,  # keep configure_logging's JSON handlers
)
