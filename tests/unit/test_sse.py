"""The SSE reader our clients share (operation streams, subscriptions): events end at a blank line, comments
(heartbeats) are skipped, fields without a space after the colon are read too."""

from __future__ import annotations

from falcone.sse import Event, events


def test_events_are_grouped_by_blank_lines_and_comments_skipped() -> None:
    lines = ["event: status", "id: 7", 'data: {"status": "running"}', "", ": heartbeat", "", "data:2", ""]
    assert list(events(lines)) == [Event("status", "7", {"status": "running"}), Event("message", None, 2)]


def test_an_unterminated_last_event_is_still_delivered_and_fields_reset_between_events() -> None:
    lines = ["event: ready", "id: 1", "data: {}", "", 'data: "x"']
    assert list(events(lines)) == [Event("ready", "1", {}), Event("message", None, "x")]
