"""`Idempotency-Key` on POST for both services (see `middleware`)."""

from falcone.http.idempotency.middleware import IdempotencyMiddleware, Pools, Subjects

__all__ = ["IdempotencyMiddleware", "Pools", "Subjects"]
