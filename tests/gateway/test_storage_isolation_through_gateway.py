"""The executor's isolation matrices of documents (Mongo) and objects, run unchanged through the gateway (`client`
is the gateway here, tests/gateway/conftest.py). Envoy normalizes paths before routing, so the traversal spellings
reach the executor already resolved: they must still end in another workspace's 404, never in its data.

Left out: the tests that talk to MongoDB or MinIO without HTTP (the gateway is not on their path) and the raw-socket
dot-segment test, which checks the executor's own parser.
"""

from __future__ import annotations

import pytest

from tests.executor.documents_fixtures import mongo_seed
from tests.executor.test_documents_isolation import (
    test_anon_key_reads_but_cannot_write,
    test_dangerous_operators_are_refused_and_change_nothing,
    test_foreign_key_cannot_delete_another_workspaces_documents,
    test_foreign_key_cannot_read_another_workspaces_document,
    test_foreign_key_cannot_update_another_workspaces_documents,
    test_foreign_key_cannot_write_into_another_workspace,
    test_foreign_key_lists_queries_and_aggregates_only_its_own_documents,
    test_invalid_credential_fails_closed,
    test_malformed_filters_never_answer_5xx,
    test_operators_in_values_and_ids_are_data_not_queries,
    test_or_and_stamp_fields_in_a_filter_cannot_escape_the_predicate,
    test_workspace_without_mongo_answers_404,
)
from tests.executor.test_documents_isolation import (
    test_spoofed_tenant_headers_with_a_valid_key_are_ignored as test_documents_spoofed_headers_with_a_key_are_ignored,
)
from tests.executor.test_objects_isolation import (
    stored,
    test_anon_key_reads_but_never_writes,
    test_foreign_credential_cannot_delete_another_workspaces_object,
    test_foreign_credential_cannot_read_another_workspaces_object,
    test_foreign_credential_cannot_write_or_overwrite_another_workspaces_object,
    test_foreign_credential_lists_only_its_own_objects,
    test_invalid_or_missing_credential_is_401,
    test_presigned_url_cannot_be_pointed_at_another_workspaces_object,
    test_traversal_keys_never_reach_another_workspace,
)
from tests.executor.test_objects_isolation import (
    test_spoofed_tenant_headers_with_a_valid_key_are_ignored as test_objects_spoofed_headers_with_a_key_are_ignored,
)

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

__all__ = [
    "mongo_seed",
    "stored",
    "test_anon_key_reads_but_cannot_write",
    "test_anon_key_reads_but_never_writes",
    "test_dangerous_operators_are_refused_and_change_nothing",
    "test_documents_spoofed_headers_with_a_key_are_ignored",
    "test_foreign_credential_cannot_delete_another_workspaces_object",
    "test_foreign_credential_cannot_read_another_workspaces_object",
    "test_foreign_credential_cannot_write_or_overwrite_another_workspaces_object",
    "test_foreign_credential_lists_only_its_own_objects",
    "test_foreign_key_cannot_delete_another_workspaces_documents",
    "test_foreign_key_cannot_read_another_workspaces_document",
    "test_foreign_key_cannot_update_another_workspaces_documents",
    "test_foreign_key_cannot_write_into_another_workspace",
    "test_foreign_key_lists_queries_and_aggregates_only_its_own_documents",
    "test_invalid_credential_fails_closed",
    "test_invalid_or_missing_credential_is_401",
    "test_malformed_filters_never_answer_5xx",
    "test_objects_spoofed_headers_with_a_key_are_ignored",
    "test_operators_in_values_and_ids_are_data_not_queries",
    "test_or_and_stamp_fields_in_a_filter_cannot_escape_the_predicate",
    "test_presigned_url_cannot_be_pointed_at_another_workspaces_object",
    "test_traversal_keys_never_reach_another_workspace",
    "test_workspace_without_mongo_answers_404",
]
