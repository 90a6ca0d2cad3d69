"""Diffs of a state (``mutator.diffs``): RFC 6902 ops, their bound, how people read them."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from hypothesis import given, settings
from hypothesis import strategies as st

from mutator import diffs


def test_a_diff_is_the_rfc_6902_patch_from_before_to_after() -> None:
    before = {"limit": 10, "tags": ["a", "b"], "old": True}
    after = {"limit": 20, "tags": ["a"], "new": {"k": 1}}
    diff = diffs.state_diff(before, after, 3)
    assert diff.version == 3
    assert diff.op_count == len(diff.ops)
    assert jsonpatch.apply_patch(before, diff.ops) == after
    assert not diff.truncated
    assert diff.error == ""


def test_people_read_one_op_per_line_with_what_it_overwrites() -> None:
    diff = diffs.state_diff({"limit": 10, "gone": 1}, {"limit": 20, "tags": ["x"]}, 0)
    assert sorted(diffs.describe(diff)) == [
        'add /tags ["x"]',
        "remove /gone (was 1)",
        "replace /limit 10 → 20",
    ]


def test_list_removals_show_the_values_each_one_removes() -> None:
    diff = diffs.state_diff({"a": [1, 2, 3]}, {"a": []}, 0)
    assert diffs.describe(diff) == [
        "remove /a/0 (was 1)",
        "remove /a/0 (was 2)",
        "remove /a/0 (was 3)",
    ]


def test_a_short_description_counts_the_ops_it_leaves_out() -> None:
    diff = diffs.state_diff({}, {f"k{i}": i for i in range(8)}, 0)
    lines = diffs.describe(diff, limit=diffs.SHORT_DIFF_OPS)
    assert len(lines) == diffs.SHORT_DIFF_OPS + 1
    assert lines[-1] == "… 3 more ops"


def test_no_change_says_so() -> None:
    assert diffs.describe(diffs.state_diff({"a": 1}, {"a": 1}, 2)) == ["no change"]


def test_a_long_value_is_shortened_on_its_line() -> None:
    [line] = diffs.describe(diffs.state_diff({}, {"text": "x" * 500}, 0))
    assert line.startswith('add /text "xxx')
    assert line.endswith("…")
    assert len(line) < 100


def test_a_huge_diff_keeps_only_its_count_and_digest() -> None:
    after = {f"key{i}": "v" * 200 for i in range(1000)}
    diff = diffs.state_diff({}, after, 0)
    assert diff.truncated
    assert diff.ops == []
    assert diff.op_count == 1000
    assert len(diff.model_dump_json()) < 1000
    assert diffs.describe(diff) == [f"1000 ops (too large to keep; sha256 {diff.digest[:12]})"]
    # Still comparable: the digest is the whole patch's.
    assert diffs.same_change(diff, diffs.state_diff({"other": 1}, {"other": 1, **after}, 7))
    assert not diffs.same_change(diff, diffs.state_diff({}, {**after, "key0": "w"}, 0))


def test_the_same_change_on_another_version_is_the_same_change() -> None:
    approved = diffs.state_diff({"cpu": 4, "mem": 1}, {"cpu": 8, "mem": 1}, 3)
    unrelated_moved = diffs.state_diff({"cpu": 4, "mem": 2}, {"cpu": 8, "mem": 2}, 4)
    same_field_moved = diffs.state_diff({"cpu": 6, "mem": 1}, {"cpu": 8, "mem": 1}, 4)
    assert diffs.same_change(approved, unrelated_moved)
    # The same op (replace /cpu 8) over another value is another change.
    assert approved.ops == same_field_moved.ops
    assert not diffs.same_change(approved, same_field_moved)
    assert not diffs.same_change(approved, diffs.state_diff({"cpu": 4}, {"cpu": 9}, 4))


def test_a_failed_plan_is_never_the_same_change() -> None:
    failed = diffs.failed_diff(2, "limits.double raised KeyError: 'name'")
    assert not diffs.same_change(failed, failed)
    assert not diffs.same_change(None, diffs.state_diff({}, {}, 0))
    assert diffs.describe(failed) == [
        "not computed on version 2: limits.double raised KeyError: 'name'"
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["x", "y"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abcd"), inner),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from("abcdef"), json_values, max_size=4)


@given(documents, documents)
@settings(max_examples=300, deadline=None)
def test_what_each_op_overwrites_is_what_it_finds_applying_the_patch_op_by_op(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    diff = diffs.state_diff(before, after, 0)
    document = copy.deepcopy(before)
    for index, op in enumerate(diff.ops):
        if op["op"] in ("replace", "remove"):
            found = jsonpatch.JsonPointer(op["path"]).resolve(document)
            assert diff.previous[str(index)] == found
        document = jsonpatch.apply_patch(document, [op])
    assert document == after


def test_a_batch_of_diffs_is_bounded_as_a_whole() -> None:
    one = diffs.state_diff({}, {"k": "v" * 1000}, 0)
    kept = diffs.within([one] * 100, max_bytes=10_000)
    assert [d.truncated for d in kept[:9]] == [False] * 9
    assert all(d.truncated and d.ops == [] for d in kept[9:])
    assert {d.digest for d in kept} == {one.digest}
