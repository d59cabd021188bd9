"""`python -m automation`: serve the automation API (127.0.0.1 by default; FALCONE_AUTOMATION_* settings)."""

import uvicorn

from automation.app import create_app
from automation.settings import AutomationSettings

settings = AutomationSettings()
uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)
