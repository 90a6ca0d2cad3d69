"""What a starting worker says about its identity mode (``mutator worker``, ``mutator dev``).

``claimed`` mode warns at every start, louder with a database that is not SQLite (a
production store). ``signed`` mode warns about users who may vote but hold no key: they
cannot approve, reject or cancel until a key of theirs is in the directory.
"""

from __future__ import annotations

from mutator.app import MutationApp
from mutator.identity.approvers import policy_approvers

CLAIMED_WARNING = (
    "identity is claimed: anyone who can reach Temporal can approve under any name; use "
    'MutationApp(identity="signed") in production, see docs/security.md'
)


def _backend(database_url: str) -> str:
    """``postgresql`` of ``postgresql+psycopg://...``."""
    return database_url.split(":", 1)[0].split("+", 1)[0].lower()


def claimed_warning(database_url: str) -> str:
    """The ``claimed`` mode's warning; a store that is not SQLite gets the production one."""
    backend = _backend(database_url)
    if backend == "sqlite":
        return CLAIMED_WARNING
    return (
        f"identity is claimed with a {backend} store, which looks like production: do not run "
        "production like this. Anyone who can reach Temporal can submit, approve, reject and "
        "cancel under any name, so self-approval prevention and quorums are bypassed by "
        'typing a name. Use MutationApp(identity="signed") and keys in the directory, see '
        "docs/security.md"
    )


def keyless_voters(app: MutationApp) -> list[str]:
    """Users who may vote but hold no key, sorted.

    Those a policy's literal ``approvers=`` names, and those holding a role.
    """
    members = app.identities.members
    named = {a.user for p in app.policies for a in policy_approvers(p.name, p.fn)}
    voters = named | {user for user, member in members.items() if member.roles}
    return sorted(user for user in voters if user in members and not members[user].keys)


def startup_warnings(app: MutationApp, database_url: str) -> list[str]:
    """The warnings a worker of ``app`` on ``database_url`` logs when it starts."""
    if app.identity == "claimed":
        return [claimed_warning(database_url)]
    keyless = keyless_voters(app)
    if not keyless:
        return []
    return [
        f"identity is signed, but {', '.join(keyless)} hold no key in the directory: they "
        "cannot submit, approve, reject or cancel until their ssh-ed25519 public keys are "
        "added (docs/security.md)"
    ]
