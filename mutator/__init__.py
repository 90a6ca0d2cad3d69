"""Mutator: governed state mutations on Temporal."""

from mutator.app import MutationApp
from mutator.client import MutatorClient, MutatorTimeout
from mutator.errors import (
    MutatorError,
    MutatorInputError,
    MutatorNotFound,
    MutatorRefused,
    MutatorUnavailable,
)
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
from mutator.policies import Allow, Deny, PolicyContext, PolicyDecision, RequireApprovals

__all__ = [
    "Allow",
    "Approval",
    "ApprovalRequirement",
    "AuditEntry",
    "Decision",
    "Deny",
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
    "RejectionCode",
    "RequestStatus",
    "RequireApprovals",
    "StateView",
]
