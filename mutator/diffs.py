"""What a change does to a state: an RFC 6902 JSON Patch, bounded, and how people read it.

A request records two: ``planned_diff``, its handler run on the state as it was when it was
evaluated (what approvers approve), and ``applied_diff``, the change its execution made. Both
travel with the request through Temporal, so a diff larger than ``MAX_DIFF_BYTES`` keeps only
its digest and op count (``truncated``): ``mutator state`` and ``history`` still have the data.
Imports neither Temporal nor the store.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import jsonpatch
from pydantic import BaseModel, Field

StateData = dict[str, Any]

# The most bytes of a diff's ops (and, apart, of the values they replace) kept on a request:
# the request travels as one Temporal payload (mutator/limits.py), well below 512 KiB.
MAX_DIFF_BYTES = 64 * 1024
# The version of a diff computed by a change that did not know the version it read: the
# store fills it in with the change's write (the version before the one written).
UNWRITTEN = -1
# How many ops the Temporal UI's current details show (the rest is counted).
SHORT_DIFF_OPS = 5
# How many characters of one value a readable line shows.
SHORT_VALUE_CHARS = 60


class StateDiff(BaseModel):
    """The change from one version of a state to the next, as RFC 6902 JSON Patch ops.

    Attributes:
        version: The state's version the change starts from (``UNWRITTEN`` until the
            store writes a change computed without it).
        ops: The patch (``jsonpatch.make_patch``); empty when ``truncated`` or on ``error``.
        op_count: How many ops the whole patch has.
        digest: SHA-256 of the whole patch and the values it overwrites, as canonical JSON:
            two changes are the same change when their digests are equal, truncated or not.
        previous: The values the ``replace`` and ``remove`` ops overwrite, by op index, for
            people (not part of the patch); empty when they exceed ``MAX_DIFF_BYTES``.
        truncated: The ops exceeded ``MAX_DIFF_BYTES`` and are not kept.
        error: The handler refused or raised on that version (planned diffs only): no ops.
    """

    version: int
    ops: list[dict[str, Any]] = Field(default_factory=list)
    op_count: int = 0
    digest: str = ""
    previous: dict[str, Any] = Field(default_factory=dict)
    truncated: bool = False
    error: str = ""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def state_diff(before: StateData, after: StateData, version: int) -> StateDiff:
    """The diff from ``before`` (the state at ``version``) to ``after``, bounded."""
    ops: list[dict[str, Any]] = list(jsonpatch.make_patch(before, after))
    previous = _overwritten(before, ops)
    # The same change writes the same values over the same values (RFC 6902 ops alone carry
    # no old value: "replace /cpu 16" from 4 and from 6 are different changes).
    digest = hashlib.sha256(_canonical({"ops": ops, "previous": previous}).encode()).hexdigest()
    if len(_canonical(ops).encode()) > MAX_DIFF_BYTES:
        return StateDiff(version=version, op_count=len(ops), digest=digest, truncated=True)
    if len(_canonical(previous).encode()) > MAX_DIFF_BYTES:
        previous = {}
    return StateDiff(version=version, ops=ops, op_count=len(ops), digest=digest, previous=previous)


def within(found: list[StateDiff], max_bytes: int = MAX_DIFF_BYTES) -> list[StateDiff]:
    """``found`` (a batch's items' diffs), truncated once they exceed ``max_bytes`` in all.

    A batch of many items so carries no more diffs than one request.
    """
    kept: list[StateDiff] = []
    used = 0
    for diff in found:
        used += len(_canonical(diff.ops).encode()) + len(_canonical(diff.previous).encode())
        if used > max_bytes and not diff.truncated:
            diff = diff.model_copy(update={"ops": [], "previous": {}, "truncated": True})
        kept.append(diff)
    return kept


def failed_diff(version: int, error: str) -> StateDiff:
    """A planned diff the handler could not produce on ``version``: it refused or raised."""
    return StateDiff(version=version, error=error[: SHORT_VALUE_CHARS * 4])


def _overwritten(before: StateData, ops: list[dict[str, Any]]) -> dict[str, Any]:
    """What each ``replace``/``remove`` op overwrites, by op index (as a string).

    Applied op by op: a path names a place in the document as the ops before it left it.
    (``jsonpatch.apply_patch`` per op costs several times more on the execution's hot path.)
    """
    document: Any = copy.deepcopy(before)
    previous: dict[str, Any] = {}
    for index, op in enumerate(ops):
        kind = op["op"]
        if kind in ("replace", "remove", "move"):
            source = op["from"] if kind == "move" else op["path"]
            parent, key = jsonpatch.JsonPointer(source).to_last(document)
            if kind != "move":
                previous[str(index)] = parent[key]
            if kind == "replace":
                parent[key] = copy.deepcopy(op["value"])
                continue
            value = parent.pop(key)
            if kind == "remove":
                continue
        elif kind in ("add", "copy"):
            value = copy.deepcopy(
                op["value"]
                if kind == "add"
                else jsonpatch.JsonPointer(op["from"]).resolve(document)
            )
        else:
            continue  # test: changes nothing
        parent, key = jsonpatch.JsonPointer(op["path"]).to_last(document)
        if isinstance(parent, list):
            parent.insert(len(parent) if key == "-" else int(key or 0), value)
        else:
            parent[key] = value
    return previous


def same_change(approved: StateDiff | None, latest: StateDiff | None) -> bool:
    """Whether ``latest`` makes exactly the change ``approved`` made (any base version).

    A diff with an error, or none at all, is the same as nothing.
    """
    if approved is None or latest is None or approved.error or latest.error:
        return False
    return approved.digest == latest.digest


def _short(value: Any) -> str:
    text = _canonical(value)
    return text if len(text) <= SHORT_VALUE_CHARS else text[: SHORT_VALUE_CHARS - 1] + "…"


def describe_op(op: dict[str, Any], before: Any = ...) -> str:
    """One op for people: ``replace /limit 10 → 20``, ``add /tags/0 "x"``, ``remove /old``.

    ``before``: the value the op overwrites, when known.
    """
    kind, path = op["op"], op["path"]
    if kind == "replace":
        was = "" if before is ... else f"{_short(before)} → "
        return f"replace {path} {was}{_short(op['value'])}"
    if kind == "remove":
        return f"remove {path}" + ("" if before is ... else f" (was {_short(before)})")
    if kind in ("add", "test"):
        return f"{kind} {path} {_short(op['value'])}"
    return f"{kind} {op.get('from', '')} → {path}"


def describe(diff: StateDiff, limit: int | None = None) -> list[str]:
    """The diff for people, one op per line; at most ``limit`` ops, then how many more."""
    if diff.error:
        return [f"not computed on version {diff.version}: {diff.error}"]
    if diff.truncated:
        return [f"{diff.op_count} ops (too large to keep; sha256 {diff.digest[:12]})"]
    if not diff.ops:
        return ["no change"]
    shown = diff.ops if limit is None else diff.ops[:limit]
    lines = [describe_op(op, diff.previous.get(str(i), ...)) for i, op in enumerate(shown)]
    if len(diff.ops) > len(shown):
        lines.append(f"… {len(diff.ops) - len(shown)} more ops")
    return lines
