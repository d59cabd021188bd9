from __future__ import annotations

from components.providers.base import diff_properties


def test_no_change_when_declared_properties_match() -> None:
    result = diff_properties({"a": 1, "extra_output": "x"}, {"a": 1}, updatable=["a"], replace_on=["n"])
    assert result.changes is False
    assert result.replaces == []


def test_updatable_change_updates_in_place() -> None:
    result = diff_properties({"a": 1}, {"a": 2}, updatable=["a"], replace_on=["n"])
    assert result.changes is True
    assert result.replaces == []


def test_identity_change_replaces_and_deletes_first() -> None:
    result = diff_properties({"n": "x"}, {"n": "y"}, updatable=["a"], replace_on=["n"])
    assert result.replaces == ["n"]
    assert result.delete_before_replace is True


def test_string_lists_compare_without_order() -> None:
    result = diff_properties({"m": ["b", "a"]}, {"m": ["a", "b"]}, updatable=["m"], replace_on=[])
    assert result.changes is False
