"""Realtime: a workspace's changes as they are committed, over Server-Sent Events or a WebSocket."""
