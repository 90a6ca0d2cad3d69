"""Stored requests whose persons' decisions carry proofs made with real keys (ssh-keygen), for
the record's signature tests; built without a workflow, as the worker records them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from mutator.decisions import DecisionCode, SystemActor, rejected_code
from mutator.identity.envelope import Action, make_envelope
from mutator.identity.requests import expected_for, proof_of, request_signed_payload
from mutator.identity.signing import KeyFileSigner, sign_envelope
from mutator.models import (
    Decision,
    DecisionCategory,
    MutationRequest,
    RejectionCode,
    RequestStatus,
    SignedProof,
)
from mutator.store import Store
from tests.helpers.records import T0, add, make_request
from tests.mutator.identity.keys import SshKey, make_key

LIFECYCLE, APPROVAL = DecisionCategory.LIFECYCLE, DecisionCategory.APPROVAL


@dataclass(frozen=True)
class Keys:
    """alice (requester), bob (approver), and a stranger nobody lists."""

    alice: SshKey
    bob: SshKey
    stranger: SshKey

    def of(self, actor: str) -> SshKey:
        return {"alice": self.alice, "bob": self.bob}[actor]


def make_keys(directory: Path) -> Keys:
    return Keys(*(make_key(directory, name) for name in ("alice", "bob", "stranger")))


def directory_toml(*members: tuple[str, SshKey | None]) -> str:
    """A directory file: each member a role ``sre`` and their key (None: no key)."""
    lines = []
    for user, key in members:
        keys = f'["{key.public_line}"]' if key is not None else "[]"
        lines += [f"[{user}]", 'roles = ["sre"]', f"keys = {keys}", ""]
    return "\n".join(lines)


def sign(
    key: SshKey,
    request: MutationRequest,
    action: Action,
    actor: str,
    comment: str,
    *,
    request_id: str | None = None,
) -> SignedProof:
    """The proof a worker stores for ``actor``'s ``action`` on ``request`` as it stands."""
    expected = expected_for(request, action, actor)
    envelope = make_envelope(
        action=action,
        request_id=request_id or request.request_id,
        actor=actor,
        state_id=request.state_id,
        mutation=request.mutation,
        payload=request_signed_payload(request),
        base_version=expected.base_version,
        comment=comment,
        now=T0,
    )
    return proof_of(envelope.model_dump(), sign_envelope(KeyFileSigner(key.private), envelope))


def decision(
    category: DecisionCategory,
    code: str,
    actor: str,
    reason: str = "",
    *,
    seconds: int = 0,
    proof: SignedProof | None = None,
) -> Decision:
    at = T0 + timedelta(seconds=seconds)
    return Decision(category=category, code=code, actor=actor, reason=reason, at=at, proof=proof)


def signed_record(store: Store, keys: Keys) -> None:
    """Four requests on acct-1:

    - ``approved``: alice's signed submit (seq 1), policy pending (2), bob's signed approval
      (3), approved by approvers (4), executed (5): acct-1 version 1;
    - ``rejected``: alice's signed submit (1), pending (2), bob's signed reject vote (3) and
      the rejection it causes (4, no proof of its own: the vote's covers it);
    - ``canceled``: alice's signed submit (1), pending (2), alice's signed cancel (3);
    - ``claimed``: carol's submit without a signature (1), pending (2).
    """
    base = make_request("approved", reason="raise the limit")
    submit = sign(keys.alice, base, "submit", "alice", "raise the limit")
    pending = decision(LIFECYCLE, DecisionCode.PENDING, SystemActor.POLICY, "1 of bob")
    submitted = decision(
        LIFECYCLE, DecisionCode.SUBMITTED, "alice", "raise the limit", proof=submit
    )
    store.save_request(base.model_copy(update={"decisions": [submitted]}))
    vote = sign(keys.bob, base, "approve", "bob", "looks right")
    done = base.model_copy(
        update={
            "status": RequestStatus.EXECUTED,
            "revision": 2,
            "decisions": [
                submitted,
                pending,
                decision(
                    APPROVAL, DecisionCode.APPROVED, "bob", "looks right", seconds=1, proof=vote
                ),
                decision(LIFECYCLE, DecisionCode.APPROVED, SystemActor.APPROVERS, seconds=1),
                decision(LIFECYCLE, DecisionCode.EXECUTED, SystemActor.SYSTEM, seconds=2),
            ],
        }
    )
    store.apply(request=done, change=add(5), expected_version=None)

    rejected = make_request("rejected", reason="too much")
    reason = "not this quarter"
    store.save_request(
        rejected.model_copy(
            update={
                "status": RequestStatus.REJECTED,
                "decisions": [
                    decision(
                        LIFECYCLE,
                        DecisionCode.SUBMITTED,
                        "alice",
                        "too much",
                        proof=sign(keys.alice, rejected, "submit", "alice", "too much"),
                    ),
                    pending,
                    decision(
                        APPROVAL,
                        DecisionCode.REJECTED,
                        "bob",
                        reason,
                        seconds=3,
                        proof=sign(keys.bob, rejected, "reject", "bob", reason),
                    ),
                    decision(
                        LIFECYCLE,
                        rejected_code(RejectionCode.APPROVER_REJECTED),
                        "bob",
                        reason,
                        seconds=3,
                    ),
                ],
            }
        )
    )

    canceled = make_request("canceled")
    store.save_request(
        canceled.model_copy(
            update={
                "status": RequestStatus.CANCELED,
                "decisions": [
                    decision(
                        LIFECYCLE,
                        DecisionCode.SUBMITTED,
                        "alice",
                        proof=sign(keys.alice, canceled, "submit", "alice", ""),
                    ),
                    pending,
                    decision(
                        LIFECYCLE,
                        DecisionCode.CANCELED,
                        "alice",
                        "wrong account",
                        seconds=4,
                        proof=sign(keys.alice, canceled, "cancel", "alice", "wrong account"),
                    ),
                ],
            }
        )
    )

    claimed = make_request("claimed").model_copy(update={"requester": "carol"})
    store.save_request(
        claimed.model_copy(
            update={"decisions": [decision(LIFECYCLE, DecisionCode.SUBMITTED, "carol"), pending]}
        )
    )


# The signed rows of signed_record: (request, seq, actor).
SIGNED_ROWS = [
    ("approved", 1, "alice"),
    ("approved", 3, "bob"),
    ("rejected", 1, "alice"),
    ("rejected", 3, "bob"),
    ("canceled", 1, "alice"),
    ("canceled", 3, "alice"),
]
