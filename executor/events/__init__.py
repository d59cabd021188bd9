"""The workspace's Kafka topics: list, publish (acks=all, idempotent producer) and subscribe (SSE, WebSocket), each
through the workspace's own SCRAM principal, whose ACLs reach the workspace's topic and group prefix only."""
