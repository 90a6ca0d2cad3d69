"""`mutator audit --verify`: which directory checks the signatures, and printing the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mutator.cli.output import console, print_json
from mutator.record import ChainKind, RecordProblem, RecordVerification, SignatureCheck

if TYPE_CHECKING:
    from mutator.identity.audit import SignatureAudit

NOT_CHECKED = "signatures not checked (give --directory or --app)"


def signature_audit(app_spec: str | None, directory_file: str | None) -> SignatureAudit | None:
    """How to check signatures: against ``--app``'s directory, or ``--directory``'s.

    With ``--app``, its directory (replaced by ``--directory`` when both are given, as the
    worker does) and its mode: a signed app requires every person's decision to be signed, a
    claimed one lists the unsigned ones as claimed. ``--directory`` alone requires signatures.
    Neither: None.

    Raises:
        MutatorInputError: The app cannot be loaded, or the directory file is bad.
    """
    # Loaded only here: the app's module, and sshsig and cryptography with the checks.
    from mutator.identity.audit import SignatureAudit
    from mutator.identity.directory import load_directory_file
    from mutator.loader import load_app

    if app_spec is not None:
        app = load_app(app_spec, directory_file)
        return SignatureAudit(app.identities, required=app.identity == "signed")
    if directory_file is not None:
        return SignatureAudit(load_directory_file(directory_file), required=True)
    return None


def show_verification(report: RecordVerification, as_json: bool) -> None:
    """Print a record verification: every problem, what was checked, the claimed decisions."""
    if as_json:
        print_json(report)
        return
    checked = (
        f"{report.decisions} decisions of {report.requests} requests, "
        f"{report.history} history rows of {report.states} states"
    )
    if report.ok:
        console.print(f"record verified: {checked}, no problem")
    else:
        table = Table("chain", "of", "position", "problem", "detail")
        for p in report.problems:
            table.add_row(p.chain.value, p.chain_id, _position(p), p.kind.value, p.detail)
        console.print(table)
        console.print(f"record NOT verified: {len(report.problems)} problems in {checked}")
    console.print(_signatures_line(report), highlight=False)
    if report.claimed:
        claimed = Table("request", "seq", "code", "actor", title="identity: claimed")
        for c in report.claimed:
            claimed.add_row(c.request_id, str(c.seq), c.code, c.actor)
        console.print(claimed)


def _position(p: RecordProblem) -> str:
    if p.position == 0:
        return "its own row"
    if p.chain == ChainKind.HISTORY:
        return f"version {p.position}"
    named = f" ({p.code} by {p.actor})" if p.code is not None else ""
    return f"seq {p.position}{named}"


def _signatures_line(report: RecordVerification) -> str:
    if report.signatures == SignatureCheck.NOT_CHECKED:
        return NOT_CHECKED
    line = f"signatures: {report.signed} verified against the directory's keys"
    if report.signatures == SignatureCheck.REQUIRED:
        return line + "; every person's decision must be signed"
    return line + (
        f"; {len(report.claimed)} decisions of persons are unsigned (identity: claimed, "
        "the app is in claimed mode)"
    )
