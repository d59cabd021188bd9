"""The chart's profiles are the catalogue's deployment profiles, and the platform stack's chart values carry where
the backing servers are (an IP range only for an address), read from the admin connections. No servers needed."""

from __future__ import annotations

import json

import pytest
import yaml

from components.connections import Backends, KafkaConnection, KeycloakConnection, PostgresConnection, VaultConnection
from components.falcone_chart import CHART_DIR, backend_values, profile_values_file
from falcone.plans import catalog
from tests.charts import manifests


def test_a_values_file_per_catalog_profile_and_no_other() -> None:
    assert manifests.profile_files() == set(catalog().profiles)


@pytest.mark.parametrize("profile", sorted(catalog().profiles))
def test_each_profile_file_names_its_profile(profile: str) -> None:
    assert yaml.safe_load(profile_values_file(profile).read_text())["profile"] == profile


def test_the_schema_accepts_exactly_the_catalog_profiles() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert sorted(schema["properties"]["profile"]["enum"]) == sorted(catalog().profiles)


def test_backend_values_take_hosts_and_ports_from_the_connections() -> None:
    backends = Backends(
        postgres=PostgresConnection(dsn="host=db.internal port=6432 user=admin password=pw dbname=postgres"),
        keycloak=KeycloakConnection(url="https://sso.internal/", admin_user="admin", admin_password="pw"),
        kafka=KafkaConnection(bootstrap_servers="10.0.0.7:9093,10.0.0.8:9093", admin_user="a", admin_password="pw"),
        vault=VaultConnection(address="http://[fd00::1]:8200", token="tok"),
    )
    assert backend_values(backends) == {
        # A name cannot be matched by a NetworkPolicy: no IP range, the rule names only the port.
        "postgres": {"host": "db.internal", "port": 6432},
        "keycloak": {"host": "sso.internal", "port": 443, "scheme": "https"},
        "kafka": {
            "host": "10.0.0.7",
            "port": 9093,
            "cidrs": ["10.0.0.7/32"],
            "securityProtocol": "SASL_PLAINTEXT",
            "saslMechanism": "SCRAM-SHA-256",
        },
        "openbao": {"host": "fd00::1", "port": 8200, "scheme": "http", "cidrs": ["fd00::1/128"]},
    }


def test_backend_values_without_connections_leave_the_chart_defaults() -> None:
    assert backend_values(Backends()) == {}
