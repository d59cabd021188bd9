"""Idempotency keys of POST requests (see `middleware`)."""

from automation.idempotency.middleware import IdempotencyMiddleware

__all__ = ["IdempotencyMiddleware"]
