"""``MutatorClient.check``: report an external check's result to a request.

A report is the ``check`` update (``prepare_check`` builds it without sending, also as the
``check_signal`` signal for systems that only signal). With a signer it carries the
reporter's envelope, action ``check``, bound to the request as it stands, whose comment is
``check_comment(name, result, details)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from mutator.client_messages import send_update
from mutator.client_signing import SignedMessage, _signed, request_as_it_stands
from mutator.contracts import request_workflow_id
from mutator.errors import MutatorInputError, MutatorRefused
from mutator.external_checks import (
    CHECK_NAME_PATTERN,
    MAX_CHECK_NAME_CHARS,
    CheckReport,
    check_comment,
)
from mutator.identity.requests import signed_payload
from mutator.identity.signing import Signer
from mutator.limits import check_name, check_optional_id, check_text
from mutator.models import MutationRequest
from mutator.reader import StoreReader

CHECK_UPDATE = "check"
CHECK_SIGNAL = "check_signal"
_NAME = re.compile(CHECK_NAME_PATTERN)


@dataclass(frozen=True)
class CheckMessage(SignedMessage[CheckReport]):
    """A check's report ready to send: as the ``check`` update, or the ``check_signal`` signal."""


def check_report_fields(name: str, actor: str, details: str) -> None:
    """Refuse a report's malformed fields before anything is read or sent.

    Raises:
        MutatorInputError: The check's name is not a check name, the actor is malformed, or
            the details are over their limit.
    """
    if not isinstance(name, str) or len(name) > MAX_CHECK_NAME_CHARS or not _NAME.match(name):
        raise MutatorInputError(
            f"name: {name!r} is not a check name (1-{MAX_CHECK_NAME_CHARS} letters, digits "
            "and . _ : - /)"
        )
    check_name(actor, "actor")
    check_text(details, "details")


def check_message(
    request: MutationRequest,
    name: str,
    *,
    passed: bool,
    actor: str,
    details: str,
    signer: Signer | None,
    now: datetime | None = None,
) -> CheckMessage:
    """The report of check ``name`` on ``request`` by ``actor``, signed when a signer is given.

    Raises:
        MutatorInputError: A field cannot be signed.
        SigningKeyError: The signer failed.
    """
    result = "passed" if passed else "failed"
    signed: dict[str, Any] = {}
    if signer is not None:
        envelope, signature = _signed(
            signer,
            action="check",
            request_id=request.request_id,
            actor=actor,
            state_id=request.state_id,
            mutation=request.mutation,
            payload=signed_payload(request.mutation, request.payload, request.items),
            base_version=request.base_version,
            comment=check_comment(name, result, details),
            now=now or datetime.now(UTC),
        )
        signed = {"envelope": envelope, "signature": signature}
    report = CheckReport(actor=actor, name=name, result=result, details=details, **signed)
    return CheckMessage(
        request_id=request.request_id,
        workflow_id=request_workflow_id(request.request_id),
        update=CHECK_UPDATE,
        signal=CHECK_SIGNAL,
        input=report,
    )


class CheckCommands(StoreReader):
    """Reports of external checks, sent to a request's workflow: a part of ``MutatorClient``."""

    temporal: Client
    signer: Signer | None

    async def prepare_check(
        self, request_id: str, name: str, *, passed: bool, actor: str, details: str = ""
    ) -> CheckMessage:
        """The report ``check`` would send, without sending it (e.g. to send as a signal).

        Args:
            request_id: The request.
            name: The check's name.
            passed: Whether the check passed.
            actor: Who reports (eligible for the check: ``RequireChecks(reporters=, roles=)``).
            details: What the checking system says (a build URL, the failing step).

        Returns:
            The message: workflow id, update and signal names, and input.

        Raises:
            MutatorInputError: A field is malformed, or signing failed.
            MutatorNotFound: No request has that id.
            MutatorRefused: The request has ended.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        check_report_fields(name, actor, details)
        current = await self.get(request_id)
        if current.status.is_terminal:
            raise MutatorRefused(
                f"request {request_id} is {current.status.value}; it no longer waits for check "
                "reports (check refused)"
            )
        if self.signer is not None:
            current = await request_as_it_stands(self.temporal, current)
        return check_message(
            current, name, passed=passed, actor=actor, details=details, signer=self.signer
        )

    async def check(
        self,
        request_id: str,
        name: str,
        *,
        passed: bool,
        actor: str,
        details: str = "",
        update_id: str | None = None,
    ) -> MutationRequest:
        """Report an external check's result: passed lets the request go on, failed rejects it.

        Reporting again the result already recorded is accepted and changes nothing; a
        different result is refused (a report is final).

        Args:
            request_id: The request.
            name: The check's name; the request must require it.
            passed: Whether the check passed.
            actor: Who reports; must be eligible for the check, and not the requester.
            details: What the checking system says, kept in the record.
            update_id: An id for this report; sending the same id again is answered once.

        Returns:
            The request after the report.

        Raises:
            MutatorInputError: A field is malformed or over its limit.
            MutatorNotFound: No request has that id.
            MutatorRefused: The request does not require the check, the actor may not report
                it, the request no longer waits, or the check was reported otherwise.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        check_optional_id(update_id, "update_id")
        message = await self.prepare_check(
            request_id, name, passed=passed, actor=actor, details=details
        )
        return await send_update(
            self.temporal, self, request_id, message.update, message.input, update_id
        )
