"""Captured JSON logs: `log_stream` routes the process's logging (falcone.logs.configure_logging) into a string for
one test, then puts the previous configuration back."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from falcone.logs import configure_logging


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("info", stream)
    yield stream
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level
