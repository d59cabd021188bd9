"""The executor's isolation matrix and token tests, run unchanged through the gateway: `client` is the gateway
here (tests/gateway/conftest.py), so every request crosses Envoy's routing, header stripping and JWT checks.
They are bound in their own suite's order (some rely on what an earlier one left).

Left out, because the gateway changes their premise on purpose: the tests that send the executor identity headers
with the gateway secret and expect them to count (the gateway drops a client's copies:
test_gateway.py::test_spoofed_identity_headers_never_reach_the_executor), and the two realm tests whose forged or
re-pointed tokens the gateway refuses before the executor would (test_gateway.py has both).
"""

from __future__ import annotations

import pytest

from tests.executor import test_isolation as isolation
from tests.executor import test_tokens as tokens

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

test_foreign_key_cannot_read_another_workspaces_rows = isolation.test_foreign_key_cannot_read_another_workspaces_rows
test_foreign_key_lists_only_its_own_rows = isolation.test_foreign_key_lists_only_its_own_rows
test_foreign_key_cannot_write_into_another_tenant = isolation.test_foreign_key_cannot_write_into_another_tenant
test_foreign_key_cannot_update_another_workspaces_rows = (
    isolation.test_foreign_key_cannot_update_another_workspaces_rows
)
test_foreign_key_cannot_delete_another_workspaces_rows = (
    isolation.test_foreign_key_cannot_delete_another_workspaces_rows
)
test_spoofed_tenant_headers_with_a_valid_key_are_ignored = (
    isolation.test_spoofed_tenant_headers_with_a_valid_key_are_ignored
)
test_invalid_key_is_401_even_with_valid_looking_headers = (
    isolation.test_invalid_key_is_401_even_with_valid_looking_headers
)
test_revoked_key_stops_working_within_the_cache_ttl = isolation.test_revoked_key_stops_working_within_the_cache_ttl
test_expired_key_is_refused = isolation.test_expired_key_is_refused
test_key_row_naming_a_foreign_role_fails_closed = isolation.test_key_row_naming_a_foreign_role_fails_closed
test_no_credential_is_401 = isolation.test_no_credential_is_401
test_anon_key_cannot_write = isolation.test_anon_key_cannot_write
test_anon_key_reads_declared_tables_only_through_rls_and_never_writes_them = (
    isolation.test_anon_key_reads_declared_tables_only_through_rls_and_never_writes_them
)

test_token_of_the_tenants_realm_reads_its_own_workspace = tokens.test_token_of_the_tenants_realm_reads_its_own_workspace
test_tampered_or_foreign_tokens_are_401 = tokens.test_tampered_or_foreign_tokens_are_401
