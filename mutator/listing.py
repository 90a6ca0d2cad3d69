"""A page of `list`: request summaries, newest first, with an opaque cursor to the next page.

The cursor is the (created_at, request_id) of the page's last request, the keyset the store
orders by, so a page costs the same however deep it is and requests created meanwhile do not
shift later pages.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from pydantic import BaseModel

from mutator.errors import MutatorInputError
from mutator.models import PendingReason, RequestStatus

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000

_SEPARATOR = "|"


class RequestSummary(BaseModel):
    """The columns `list` shows; `get` (or `mutator show`) has the whole request."""

    request_id: str
    state_id: str
    mutation: str
    requester: str
    status: RequestStatus
    pending_reason: PendingReason | None = None
    break_glass: bool = False  # submitted with break-glass
    created_at: datetime
    updated_at: datetime


class RequestPage(BaseModel):
    """One page of ``list``.

    Attributes:
        requests: The page's request summaries, newest first.
        remaining: How many more requests match the filters after this page.
        next_cursor: Pass as ``after`` (``--after``) for the next page; None on the last page.
    """

    requests: list[RequestSummary]
    # How many more requests match the filters after this page.
    remaining: int
    # Pass as ``after`` (``--after``) for the next page; None on the last page.
    next_cursor: str | None


def encode_cursor(created_at: datetime, request_id: str) -> str:
    """The opaque cursor of a page ending with the request ``(created_at, request_id)``."""
    raw = f"{created_at.isoformat()}{_SEPARATOR}{request_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[datetime, str]:
    """(created_at, request_id) of a cursor from ``encode_cursor``; MutatorInputError else."""
    problem = (
        f"{field}: {cursor[:80]!r} is not a cursor from `mutator list` "
        "(pass the next_cursor of the previous page as it was printed)"
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        stamp, separator, request_id = text.partition(_SEPARATOR)
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, UnicodeError, binascii.Error):
        raise MutatorInputError(problem) from None
    if not separator or not request_id or created_at.tzinfo is None:
        raise MutatorInputError(problem)
    return created_at, request_id
