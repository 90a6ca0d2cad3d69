"""Recomputing the record's hash chains (chain.py) and naming every row that does not fit.

Given a directory, the stored signatures are re-verified too (signatures.py).

A chain's rows are checked in order against the stored hash of the row before them (not a
recomputed one, so one edited row is reported once), and its length and last hash against
the head its owner row keeps (``mutator_requests.decision_seq``/``decision_hash``,
``mutator_states.version``/``history_hash``), which catches a deleted or appended last row.
A row whose hash fits another position of its chain is reported as reordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from mutator.record import ChainKind, ProblemKind, RecordProblem, RecordVerification
from mutator.store import chain
from mutator.store.listing import touches
from mutator.store.schema import decisions, requests, state_history, states

if TYPE_CHECKING:
    # Loaded only to check signatures (it imports sshsig and cryptography).
    from mutator.identity.audit import SignatureAudit

# Past this many rows in one chain, a row that does not fit is not searched for elsewhere
# in the chain (the search is quadratic): it is reported as edited.
REORDER_SEARCH_LIMIT = 2000


@dataclass(frozen=True)
class _Chain:
    """One chain's rows, as stored, and what its owner row says its head is."""

    kind: ChainKind
    chain_id: str
    position_field: str  # "seq" or "version"
    rows: list[Mapping[str, Any]]
    # (position, hash) of the last row per the owner row; None: the owner row is missing.
    head: tuple[int, str | None] | None

    def fields(self, row: Mapping[str, Any], position: int | None = None) -> dict[str, Any]:
        """The row's hashed fields, with ``position`` in place of its own when given."""
        fields = (
            chain.decision_fields(row)
            if self.kind == ChainKind.DECISIONS
            else chain.history_fields(row)
        )
        if position is not None:
            fields[self.position_field] = position
        return fields

    def problem(self, position: int, kind: ProblemKind, detail: str) -> RecordProblem:
        """A problem of this chain at ``position``."""
        return RecordProblem(
            chain=self.kind, chain_id=self.chain_id, position=position, kind=kind, detail=detail
        )


def verify_record(
    conn: Connection,
    *,
    state_id: str | None = None,
    request_id: str | None = None,
    signatures: SignatureAudit | None = None,
) -> RecordVerification:
    """Recompute the chains: every request's and state's, or only those asked for.

    ``request_id``: that request's decisions. ``state_id``: that state's history and the
    decisions of its requests (batches including it too). Both: that request's decisions
    and that state's history. ``signatures``: also re-verify the stored signatures of those
    decisions against its directory (signatures.py); their problems follow the chains'.
    """
    report = RecordVerification()
    if request_id is not None or state_id is None:
        decision_chains = _decision_chains(conn, request_id=request_id, state_id=None)
    else:
        decision_chains = _decision_chains(conn, request_id=None, state_id=state_id)
    for c in decision_chains:
        report.requests += 1
        report.decisions += len(c.rows)
        report.problems.extend(_named(c, check_chain(c)))
    if state_id is not None or request_id is None:
        current = _current_states(conn, state_id)
        for c in _history_chains(conn, state_id):
            report.states += 1
            report.history += len(c.rows)
            problems = check_chain(c)
            report.problems.extend(problems or _current_state_problems(c, current))
    if signatures is not None:
        from mutator.store.signatures import check_signatures

        check_signatures(conn, [(c.chain_id, c.rows) for c in decision_chains], signatures, report)
    return report


def _named(c: _Chain, problems: list[RecordProblem]) -> list[RecordProblem]:
    """Decision problems with the code and actor of the row at their position, if any."""
    rows = {row["seq"]: row for row in c.rows}
    for p in problems:
        row = rows.get(p.position)
        if row is not None:
            p.code, p.actor = row["code"], row["actor"]
    return problems


def check_chain(c: _Chain) -> list[RecordProblem]:
    """Every problem of one chain, by position."""
    problems = _owner_problems(c)
    expected, prev, broken = 1, None, False
    for row in c.rows:
        position = row[c.position_field]
        if position > expected:
            problems.extend(_missing(c, expected, position))
            broken = True
        stored = row["row_hash"]
        if stored is None:
            problems.append(c.problem(position, ProblemKind.UNHASHED, "the row has no hash"))
        elif not broken and chain.chain_hash(prev, c.fields(row)) != stored:
            reported = {p.position for p in problems}
            misfit = _misfit(c, row, position, expected - 1, reported)
            if misfit is not None:
                problems.append(misfit)
        # A row without a hash leaves the next one nothing to follow: it is not checked.
        expected, prev, broken = position + 1, stored, stored is None
    problems.extend(_head_problems(c, expected - 1, prev, {p.position for p in problems}))
    return problems


def _owner_problems(c: _Chain) -> list[RecordProblem]:
    if c.head is not None:
        return []
    owner = "request" if c.kind == ChainKind.DECISIONS else "state"
    return [
        c.problem(
            0,
            ProblemKind.DELETED,
            f"the {owner} row is missing: its {c.kind.value} rows remain without it",
        )
    ]


def _missing(c: _Chain, first: int, after: int) -> list[RecordProblem]:
    """Positions ``first`` to ``after - 1``, missing before the row at ``after``."""
    return [
        c.problem(
            p,
            ProblemKind.DELETED,
            f"{c.position_field} {p} is missing (the chain breaks before "
            f"{c.position_field} {after})",
        )
        for p in range(first, after)
    ]


def _misfit(
    c: _Chain, row: Mapping[str, Any], position: int, before: int, reported: set[int]
) -> RecordProblem | None:
    """A row whose hash does not follow from the row ``before`` it: moved or edited.

    A row that fits its place after another row of the chain is fine itself: the row before
    it was moved (reported there) or its hash rewritten (reported here, at ``before``).
    """
    written_at = _written_position(c, row)
    if written_at is None:
        detail = "the row does not match its hash: it was edited"
        if before > 0:
            detail += (
                f", or {c.position_field} {before} was edited and its hash recomputed "
                f"(the row no longer follows it)"
            )
        return c.problem(position, ProblemKind.EDITED, detail)
    if written_at != position:
        return c.problem(
            position,
            ProblemKind.REORDERED,
            f"the row was written as {c.position_field} {written_at}, "
            f"it is now {c.position_field} {position}",
        )
    if before in reported:
        return None
    return c.problem(
        before,
        ProblemKind.EDITED,
        f"the row's hash was rewritten: {c.position_field} {position} no longer follows it",
    )


def _written_position(c: _Chain, row: Mapping[str, Any]) -> int | None:
    """The position whose hash the row carries, following some row of the chain; None."""
    if len(c.rows) > REORDER_SEARCH_LIMIT:
        return None
    prevs: list[str | None] = [None, *(r["row_hash"] for r in c.rows if r["row_hash"])]
    last = max([r[c.position_field] for r in c.rows] + [c.head[0] if c.head else 0])
    for position in range(1, last + 1):
        canonical = chain.canonical(c.fields(row, position))
        if any(chain.chain_hash_canonical(p, canonical) == row["row_hash"] for p in prevs):
            return position
    return None


def _head_problems(
    c: _Chain, last: int, last_hash: str | None, reported: set[int]
) -> list[RecordProblem]:
    """The chain's end against its owner row's head (a last row reported already aside)."""
    if c.head is None:
        return []
    head_position, head_hash = c.head
    if last < head_position:
        return _missing(c, last + 1, head_position + 1)
    if last > head_position:
        first = next(r[c.position_field] for r in c.rows if r[c.position_field] > head_position)
        return [
            c.problem(
                r[c.position_field],
                ProblemKind.INSERTED,
                f"the chain ends at {c.position_field} {head_position} "
                f"(its owner row's head), this row comes after it",
            )
            for r in c.rows
            if r[c.position_field] >= first
        ]
    if head_hash is not None and last > 0 and head_hash != last_hash and last not in reported:
        return [
            c.problem(
                last,
                ProblemKind.EDITED,
                "the last row's hash is not the head its owner row keeps: the last row "
                "was replaced",
            )
        ]
    return []


def _decision_chains(
    conn: Connection, *, request_id: str | None, state_id: str | None
) -> list[_Chain]:
    columns = [decisions.c[name] for name in (*chain.DECISION_FIELDS, *chain.PROOF_FIELDS)]
    rows_query = select(*columns, decisions.c.row_hash).order_by(
        decisions.c.request_id, decisions.c.seq
    )
    heads_query = select(requests.c.request_id, requests.c.decision_seq, requests.c.decision_hash)
    if request_id is not None:
        rows_query = rows_query.where(decisions.c.request_id == request_id)
        heads_query = heads_query.where(requests.c.request_id == request_id)
    if state_id is not None:
        rows_query = rows_query.where(touches(decisions.c.state_id, state_id))
        heads_query = heads_query.where(touches(requests.c.state_id, state_id))
    heads = {
        r.request_id: (r.decision_seq or 0, r.decision_hash) for r in conn.execute(heads_query)
    }
    rows = [dict(r._mapping) for r in conn.execute(rows_query)]
    return _chains(ChainKind.DECISIONS, "request_id", "seq", rows, heads)


def _history_chains(conn: Connection, state_id: str | None) -> list[_Chain]:
    columns = [state_history.c[name] for name in chain.HISTORY_FIELDS]
    rows_query = select(*columns, state_history.c.row_hash).order_by(
        state_history.c.state_id, state_history.c.version
    )
    heads_query = select(states.c.state_id, states.c.version, states.c.history_hash)
    if state_id is not None:
        rows_query = rows_query.where(state_history.c.state_id == state_id)
        heads_query = heads_query.where(states.c.state_id == state_id)
    heads = {r.state_id: (r.version, r.history_hash) for r in conn.execute(heads_query)}
    rows = [dict(r._mapping) for r in conn.execute(rows_query)]
    return _chains(ChainKind.HISTORY, "state_id", "version", rows, heads)


def _current_states(conn: Connection, state_id: str | None) -> dict[str, tuple[int, Any]]:
    query = select(states.c.state_id, states.c.version, states.c.data)
    if state_id is not None:
        query = query.where(states.c.state_id == state_id)
    return {r.state_id: (r.version, r.data) for r in conn.execute(query)}


def _current_state_problems(
    c: _Chain, current: Mapping[str, tuple[int, Any]]
) -> list[RecordProblem]:
    """The state's row (what the next mutation builds on) against its last history row.

    Checked only on a sound chain: the chain's own problems say more.
    """
    found = current.get(c.chain_id)
    if found is None or not c.rows:
        return []
    version, data = found
    last = c.rows[-1]
    if last["version"] != version:
        return []  # the head check reports a version that does not fit
    if chain.canonical({"data": chain.json_safe(data)}) == chain.canonical(
        {"data": chain.json_safe(last["data"])}
    ):
        return []
    return [
        c.problem(
            version,
            ProblemKind.EDITED,
            f"the state's current data (mutator_states.data) is not the data of its history "
            f"row at version {version}: it was edited outside Mutator",
        )
    ]


def _chains(
    kind: ChainKind,
    id_field: str,
    position_field: str,
    rows: Iterable[Mapping[str, Any]],
    heads: dict[str, tuple[int, str | None]],
) -> list[_Chain]:
    """The rows grouped by chain (rows ordered by chain id), and the heads without rows."""
    found = [
        _Chain(kind, chain_id, position_field, list(group), heads.pop(chain_id, None))
        for chain_id, group in groupby(rows, key=lambda r: r[id_field])
    ]
    found.extend(
        _Chain(kind, chain_id, position_field, [], head)
        for chain_id, head in heads.items()
        if head[0] > 0
    )
    return found
