"""OpenBao through hvac: KV v2 write/read, and a policy that really limits a token."""

import secrets

import hvac
import hvac.exceptions
import pytest

from localplatform.endpoints import OpenBaoEndpoint

pytestmark = pytest.mark.platform


def test_kv_and_policy(openbao_endpoint: OpenBaoEndpoint) -> None:
    root = hvac.Client(url=openbao_endpoint.url, token=openbao_endpoint.root_token)
    assert root.is_authenticated()
    path = f"smoke/{secrets.token_hex(4)}"
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"answer": "42"})
    read = root.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
    assert read["data"]["data"] == {"answer": "42"}

    policy = f"smoke-read-{secrets.token_hex(4)}"
    root.sys.create_or_update_policy(name=policy, policy=f'path "secret/data/{path}" {{ capabilities = ["read"] }}')
    try:
        token = root.auth.token.create(policies=[policy], ttl="5m")["auth"]["client_token"]
        reader = hvac.Client(url=openbao_endpoint.url, token=token)
        assert reader.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"] == {
            "answer": "42"
        }
        with pytest.raises(hvac.exceptions.Forbidden):
            reader.secrets.kv.v2.create_or_update_secret(path=path, secret={"answer": "43"})
    finally:
        root.sys.delete_policy(name=policy)  # type: ignore[no-untyped-call]  # types-hvac gap
        root.secrets.kv.v2.delete_metadata_and_all_versions(path=path)
