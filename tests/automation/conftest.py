"""Fixtures of the automation tests: the service as a real process and an operator's API client."""

from __future__ import annotations

import pytest

from tests.automation.api import Api, OperatorToken
from tests.automation.service import AutomationProcess
from tests.platform_stack_fixtures import PlatformDeployment

__all__ = ["api", "operator_token"]


@pytest.fixture(scope="session")
def operator_token(platform_deployment: PlatformDeployment) -> OperatorToken:
    assert platform_deployment.backends.keycloak is not None
    secret = platform_deployment.outputs.operator_client_secret
    assert secret, "the platform stack exports no operatorClientSecret"
    return OperatorToken(platform_deployment.backends.keycloak.url, platform_deployment.outputs.realm, secret)


@pytest.fixture(scope="session")
def api(automation_service: AutomationProcess, operator_token: OperatorToken) -> Api:
    return Api(automation_service.url, operator_token)
