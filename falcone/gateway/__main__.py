"""`python -m falcone.gateway`: Envoy in front of both services (falcone/gateway/supervisor.py)."""

import sys

from falcone.gateway.settings import GatewaySettings
from falcone.gateway.supervisor import GatewayError, Supervisor
from falcone.logs import configure_logging

settings = GatewaySettings()
configure_logging("info")
try:
    supervisor = Supervisor(settings)
except GatewayError as error:
    sys.exit(f"falcone gateway: {error}")
sys.exit(supervisor.run())
