"""Mutator: governed state mutations on Temporal.

Names are imported on first use (PEP 562): commands that only read the store never pay for
importing the Temporal SDK, which ``MutatorClient`` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mutator.app import MutationApp
    from mutator.client import MutatorClient, MutatorTimeout
    from mutator.diffs import StateDiff
    from mutator.effects import EffectEvent, EffectRecord, Effects
    from mutator.errors import (
        MutatorError,
        MutatorInputError,
        MutatorNotFound,
        MutatorRefused,
        MutatorUnavailable,
    )
    from mutator.external_checks import CheckReport, CheckRequirement
    from mutator.listing import RequestPage, RequestSummary
    from mutator.models import (
        Approval,
        ApprovalRequirement,
        AuditEntry,
        Decision,
        HistoryEntry,
        MutationRequest,
        PendingReason,
        RejectionCode,
        RequestStatus,
        StateView,
    )
    from mutator.policies import (
        Abstain,
        Allow,
        Deny,
        PolicyContext,
        PolicyDecision,
        RequireApprovals,
        RequireChecks,
    )
    from mutator.policy_composition import all_of, any_of
    from mutator.quotas import Quota
    from mutator.reader import StoreReader
    from mutator.record import ChainKind, ProblemKind, RecordProblem, RecordVerification
    from mutator.simulate_contracts import SimulateResult

_HOMES = {
    "mutator.app": ("MutationApp",),
    "mutator.client": ("MutatorClient", "MutatorTimeout"),
    "mutator.effects": ("EffectEvent", "EffectRecord", "Effects"),
    "mutator.errors": (
        "MutatorError",
        "MutatorInputError",
        "MutatorNotFound",
        "MutatorRefused",
        "MutatorUnavailable",
    ),
    "mutator.models": (
        "Approval",
        "ApprovalRequirement",
        "AuditEntry",
        "Decision",
        "HistoryEntry",
        "MutationRequest",
        "PendingReason",
        "RejectionCode",
        "RequestStatus",
        "StateView",
    ),
    "mutator.listing": ("RequestPage", "RequestSummary"),
    "mutator.policies": (
        "Abstain",
        "Allow",
        "Deny",
        "PolicyContext",
        "PolicyDecision",
        "RequireApprovals",
        "RequireChecks",
    ),
    "mutator.external_checks": ("CheckReport", "CheckRequirement"),
    "mutator.policy_composition": ("all_of", "any_of"),
    "mutator.quotas": ("Quota",),
    "mutator.diffs": ("StateDiff",),
    "mutator.simulate_contracts": ("SimulateResult",),
    "mutator.reader": ("StoreReader",),
    "mutator.record": ("ChainKind", "ProblemKind", "RecordProblem", "RecordVerification"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "Abstain",
    "Allow",
    "Approval",
    "ApprovalRequirement",
    "AuditEntry",
    "ChainKind",
    "CheckReport",
    "CheckRequirement",
    "Decision",
    "Deny",
    "EffectEvent",
    "EffectRecord",
    "Effects",
    "HistoryEntry",
    "MutationApp",
    "MutationRequest",
    "MutatorClient",
    "MutatorError",
    "MutatorInputError",
    "MutatorNotFound",
    "MutatorRefused",
    "MutatorTimeout",
    "MutatorUnavailable",
    "PendingReason",
    "PolicyContext",
    "PolicyDecision",
    "ProblemKind",
    "Quota",
    "RecordProblem",
    "RecordVerification",
    "RejectionCode",
    "RequestPage",
    "RequestStatus",
    "RequestSummary",
    "RequireApprovals",
    "RequireChecks",
    "SimulateResult",
    "StateDiff",
    "StateView",
    "StoreReader",
    "all_of",
    "any_of",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'mutator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
