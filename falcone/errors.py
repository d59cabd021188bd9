"""Errors of the project's own tooling: each says what went wrong and how to fix it."""

from __future__ import annotations


class SetupError(Exception):
    """A bad setup state (missing tool, failed build, port in use...): the cause and the fix, no traceback."""

    def __init__(self, message: str, *, fix: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.detail = detail

    def __str__(self) -> str:
        text = f"{self.message}\n  fix: {self.fix}"
        if self.detail:
            text += "\n  last output:\n" + "\n".join(f"    {line}" for line in self.detail.splitlines())
        return text
