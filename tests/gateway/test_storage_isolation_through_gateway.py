"""The executor's isolation matrices of documents (Mongo) and objects, run unchanged through the gateway (`client`
is the gateway here, tests/gateway/conftest.py), bound in their own suites' order (some rely on what an earlier
one left). The gateway forwards paths as sent, so the traversal spellings reach the executor's own key checks.

Left out: the tests that talk to MongoDB or MinIO without HTTP (the gateway is not on their path) and the raw-socket
dot-segment test, which checks the executor's own parser.
"""

from __future__ import annotations

import pytest

from tests.executor import test_documents_isolation as documents
from tests.executor import test_objects_isolation as objects

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

mongo_seed = documents.mongo_seed
stored = objects.stored

test_world_has_three_mongo_tenants_with_two_workspaces = (
    documents.test_world_has_three_mongo_tenants_with_two_workspaces
)
test_foreign_key_cannot_read_another_workspaces_document = (
    documents.test_foreign_key_cannot_read_another_workspaces_document
)
test_foreign_key_lists_queries_and_aggregates_only_its_own_documents = (
    documents.test_foreign_key_lists_queries_and_aggregates_only_its_own_documents
)
test_foreign_key_cannot_update_another_workspaces_documents = (
    documents.test_foreign_key_cannot_update_another_workspaces_documents
)
test_foreign_key_cannot_delete_another_workspaces_documents = (
    documents.test_foreign_key_cannot_delete_another_workspaces_documents
)
test_foreign_key_cannot_write_into_another_workspace = documents.test_foreign_key_cannot_write_into_another_workspace
test_or_and_stamp_fields_in_a_filter_cannot_escape_the_predicate = (
    documents.test_or_and_stamp_fields_in_a_filter_cannot_escape_the_predicate
)
test_documents_spoofed_headers_with_a_key_are_ignored = (
    documents.test_spoofed_tenant_headers_with_a_valid_key_are_ignored
)
test_invalid_credential_fails_closed = documents.test_invalid_credential_fails_closed
test_anon_key_reads_but_cannot_write = documents.test_anon_key_reads_but_cannot_write
test_workspace_without_mongo_answers_404 = documents.test_workspace_without_mongo_answers_404
test_dangerous_operators_are_refused_and_change_nothing = (
    documents.test_dangerous_operators_are_refused_and_change_nothing
)
test_operators_in_values_and_ids_are_data_not_queries = documents.test_operators_in_values_and_ids_are_data_not_queries
test_malformed_filters_never_answer_5xx = documents.test_malformed_filters_never_answer_5xx

test_foreign_credential_cannot_read_another_workspaces_object = (
    objects.test_foreign_credential_cannot_read_another_workspaces_object
)
test_foreign_credential_lists_only_its_own_objects = objects.test_foreign_credential_lists_only_its_own_objects
test_foreign_credential_cannot_write_or_overwrite_another_workspaces_object = (
    objects.test_foreign_credential_cannot_write_or_overwrite_another_workspaces_object
)
test_foreign_credential_cannot_delete_another_workspaces_object = (
    objects.test_foreign_credential_cannot_delete_another_workspaces_object
)
test_traversal_keys_never_reach_another_workspace = objects.test_traversal_keys_never_reach_another_workspace
test_presigned_url_cannot_be_pointed_at_another_workspaces_object = (
    objects.test_presigned_url_cannot_be_pointed_at_another_workspaces_object
)
test_objects_spoofed_headers_with_a_key_are_ignored = objects.test_spoofed_tenant_headers_with_a_valid_key_are_ignored
test_invalid_or_missing_credential_is_401 = objects.test_invalid_or_missing_credential_is_401
test_anon_key_reads_but_never_writes = objects.test_anon_key_reads_but_never_writes
