"""The identity headers the gateway sets on a request it verified: the executor trusts them only together with
the shared secret and no credential (executor/identity/service.py); the gateway strips any a client sent and
sets them itself (falcone/gateway/config.py). One definition, so both ends name the same headers."""

from __future__ import annotations

GATEWAY_SECRET_HEADER = "x-gateway-secret"
TENANT_HEADER = "x-tenant-id"
WORKSPACE_HEADER = "x-workspace-id"
SUBJECT_HEADER = "x-auth-subject"
ROLE_HEADER = "x-pg-role"
IDENTITY_HEADERS = (TENANT_HEADER, WORKSPACE_HEADER, SUBJECT_HEADER, ROLE_HEADER, GATEWAY_SECRET_HEADER)
