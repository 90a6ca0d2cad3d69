"""Inputs and results of supersede: the older request's update, and its two activities.

A newer request (its mutation declares ``supersede=True``) runs ``mutator.supersede_older``
once admitted: the activity finds the older candidates in the store and sends each the
``supersede`` update. The older request's workflow decides, and first checks the newer one's
authority in the store with ``mutator.verify_supersede``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mutator.models import MutationRequest

SUPERSEDE_UPDATE = "supersede"
SUPERSEDE_OLDER_ACTIVITY = "mutator.supersede_older"
VERIFY_SUPERSEDE_ACTIVITY = "mutator.verify_supersede"
SUPERSEDE_PATCH = "supersede"


class SupersedeInput(BaseModel):
    """The ``supersede`` update: the newer request ``by`` asks this one to end.

    Attributes:
        by: The newer request's id; its stored record is checked before anything changes.
    """

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")


class SupersedeResult(BaseModel):
    """What the older request decided.

    Attributes:
        request_id: The older request.
        superseded: Whether it is now ``superseded`` by the asking request.
        reason: Why not, when it was not.
    """

    request_id: str
    superseded: bool
    reason: str = ""


class SupersedeOlderInput(BaseModel):
    """The newer request, admitted: supersede the older ones of its state and mutation."""

    request_id: str
    state_id: str
    mutation: str
    created_at: datetime


class SupersedeOlderResult(BaseModel):
    """The older requests it ended, and those it found but did not end (with why).

    Attributes:
        superseded: The ids now ``superseded`` by the newer request.
        kept: ``"<id>: <why>"`` for each candidate that was not superseded.
    """

    superseded: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list)


class VerifySupersedeInput(BaseModel):
    """The older request as it stands, and the id of the request that asks to end it."""

    request: MutationRequest
    by: str


class VerifySupersedeResult(BaseModel):
    """None: ``by`` may supersede the request; else why not."""

    refusal: str | None = None
