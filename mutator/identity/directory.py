"""The directory: each user's roles and OpenSSH public keys, in code or in a TOML/YAML file.

A user's entry is either a list of roles (``["sre"]``) or a mapping
``{"roles": [...], "keys": ["ssh-ed25519 AAAA... comment", ...]}``. Keys are OpenSSH public
key lines; only ``ssh-ed25519`` is accepted. A key belongs to at most one user, once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sshsig import PublicKey

from mutator.errors import MutatorInputError

ACCEPTED_KEY_TYPES = ("ssh-ed25519",)
ENTRY_FIELDS = ("roles", "keys")

DirectoryEntry = list[str] | tuple[str, ...] | frozenset[str] | set[str] | Mapping[str, Any]


class DirectoryError(MutatorInputError, ValueError):
    """A directory (in code or in a file) is malformed; the message says where and why.

    Attributes:
        user: The user whose entry is at fault, when one is.
        needle: The offending text (a key line, a field name), to place the error on a line.
    """

    def __init__(self, message: str, *, user: str | None = None, needle: str | None = None):
        """Keep the message and what locates the fault."""
        super().__init__(message)
        self.user = user
        self.needle = needle


class _EntryError(ValueError):
    def __init__(self, message: str, needle: str | None = None):
        super().__init__(message)
        self.needle = needle


@dataclass(frozen=True)
class UserKey:
    """One OpenSSH public key of a user.

    Attributes:
        key_type: The OpenSSH key type, ``ssh-ed25519``.
        fingerprint: ``SHA256:...`` as ``ssh-keygen -l`` prints it.
        openssh: ``<type> <base64>``, without the comment.
        comment: The key line's comment ("" when it has none).
    """

    key_type: str
    fingerprint: str
    openssh: str
    comment: str


@dataclass(frozen=True)
class Member:
    """A user of the directory: their roles and keys."""

    user: str
    roles: frozenset[str]
    keys: tuple[UserKey, ...] = ()


@dataclass(frozen=True)
class Directory:
    """Every user with roles and keys; ``key_owner`` finds the user of a fingerprint."""

    members: Mapping[str, Member] = field(default_factory=dict)
    _owners: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the keys by fingerprint."""
        for user, member in self.members.items():
            for key in member.keys:
                self._owners.setdefault(key.fingerprint, user)

    def roles(self) -> dict[str, frozenset[str]]:
        """Each user's roles, the form ``MutationApp.directory`` has always had."""
        return {user: member.roles for user, member in self.members.items()}

    def key_owner(self, fingerprint: str) -> str | None:
        """The user holding the key with ``fingerprint``, or None."""
        return self._owners.get(fingerprint)

    def __contains__(self, user: object) -> bool:
        """Whether ``user`` is a member."""
        return user in self.members


def parse_public_key(line: str) -> UserKey:
    """Parse one OpenSSH public key line (``ssh-ed25519 AAAA... comment``).

    Raises:
        ValueError: The line is not an OpenSSH public key, or its type is not accepted.
    """
    if not isinstance(line, str):
        raise ValueError(f"a key must be a string, got {type(line).__name__}")
    parts = line.strip().split(maxsplit=2)
    if len(parts) < 2:
        raise ValueError(
            f"{line!r} is not an OpenSSH public key line ('<type> <base64> [comment]')"
        )
    key_type = parts[0]
    if key_type not in ACCEPTED_KEY_TYPES:
        raise ValueError(
            f"key type {key_type!r} is not accepted (accepted: {', '.join(ACCEPTED_KEY_TYPES)})"
        )
    try:
        key = PublicKey.from_openssh_str(f"{parts[0]} {parts[1]}")
    except (ValueError, NotImplementedError) as exc:
        raise ValueError(f"{key_type} key {parts[1][:16]}... does not decode: {exc}") from None
    return UserKey(
        key_type=key_type,
        fingerprint=key.sha256_str(),
        openssh=f"{parts[0]} {parts[1]}",
        comment=parts[2] if len(parts) > 2 else "",
    )


def _roles(user: str, value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise _EntryError(f"user {user!r}: roles must be a list of strings, got {value!r}")
    if not all(isinstance(role, str) and role for role in value):
        raise _EntryError(f"user {user!r}: roles must be non-empty strings, got {value!r}")
    return frozenset(value)


def _member(user: Any, entry: Any) -> Member:
    if not isinstance(user, str) or not user:
        raise _EntryError(f"user ids must be non-empty strings, got {user!r}")
    if not isinstance(entry, Mapping):
        return Member(user, _roles(user, entry))
    unknown = sorted(set(entry) - set(ENTRY_FIELDS))
    if unknown:
        raise _EntryError(
            f"user {user!r}: unknown field {', '.join(map(repr, unknown))} "
            f"(fields: {', '.join(ENTRY_FIELDS)})",
            needle=str(unknown[0]),
        )
    key_lines = entry.get("keys", [])
    if isinstance(key_lines, str) or not isinstance(key_lines, list | tuple):
        raise _EntryError(f"user {user!r}: keys must be a list of OpenSSH key lines", "keys")
    keys = []
    for index, line in enumerate(key_lines, start=1):
        try:
            keys.append(parse_public_key(line))
        except ValueError as exc:
            raise _EntryError(f"user {user!r}: key {index}: {exc}", str(line)[:40]) from None
    return Member(user, _roles(user, entry.get("roles", [])), tuple(keys))


def parse_directory(entries: Mapping[str, Any] | None, *, source: str = "directory") -> Directory:
    """Build a ``Directory`` from ``{user: [roles]}`` or ``{user: {"roles", "keys"}}`` entries.

    Args:
        entries: The directory, as code or a parsed file gives it.
        source: Where it comes from, for error messages.

    Raises:
        DirectoryError: An entry is malformed, a key does not parse or is not accepted, or a
            key appears twice (under one user or two). The message names ``source``, the user
            and the problem.
    """
    if entries is None:
        return Directory({})
    if not isinstance(entries, Mapping):
        raise DirectoryError(
            f"{source}: must map user ids to entries, got {type(entries).__name__}"
        )
    members: dict[str, Member] = {}
    owners: dict[str, str] = {}
    for user, entry in entries.items():
        try:
            member = _member(user, entry)
        except _EntryError as exc:
            raise DirectoryError(
                f"{source}: {exc}", user=str(user), needle=exc.needle or "roles"
            ) from None
        for key in member.keys:
            if key.fingerprint in owners:
                other = owners[key.fingerprint]
                where = "twice" if other == user else f"also under user {other!r}"
                raise DirectoryError(
                    f"{source}: user {user!r}: duplicate key {key.fingerprint} ({where})",
                    user=user,
                    needle=key.openssh.split()[1][:40],
                )
            owners[key.fingerprint] = user
        members[user] = member
    return Directory(members)


_TOML_LINE = re.compile(r"at line (\d+)")


def _line_of(text: str, user: str | None, needle: str | None) -> int | None:
    """The line of ``needle`` in ``user``'s entry: the first one after the user is named."""
    if user is None:
        return None
    lines = text.splitlines()
    named = re.compile(rf"""(^|[\s\[."']){re.escape(user)}(["']?\s*[:=\]]|$)""")
    start = next((n for n, line in enumerate(lines) if named.search(line)), None)
    if start is None:
        return None
    if needle:
        as_field = re.compile(rf"""(^|[\s{{,]){re.escape(needle)}["']?\s*[:=]""")
        for found in (as_field.search, lambda line: needle in line):
            for number in range(start, len(lines)):
                if found(lines[number]):
                    return number + 1
    return start + 1


def _load_yaml(path: Path, text: str) -> Any:
    import yaml  # type: ignore[import-untyped]

    class UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
        """YAML keeps the last of two equal mapping keys; a directory refuses them."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise DirectoryError(
                        f"directory file {path} line {key_node.start_mark.line + 1}: "
                        f"{key!r} appears twice in one mapping"
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise DirectoryError(f"directory file {path}{line}: not valid YAML: {exc}") from None


def _parse_text(path: Path, text: str) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(path, text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = f" line {found.group(1)}" if found else ""
        raise DirectoryError(f"directory file {path}{line}: not valid TOML: {exc}") from None


def load_directory_file(path: str | Path) -> Directory:
    """Load a directory file: TOML, or YAML when the name ends in ``.yaml``/``.yml``.

    The file has the in-code shape: a table per user with ``roles`` and ``keys``, or
    ``user = ["role", ...]``.

    Raises:
        DirectoryError: The file cannot be read or parsed, or an entry is malformed; the
            message names the file, the line when known, the user and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"directory file {path}: cannot be read: {exc}") from None
    data = _parse_text(path, text)
    try:
        return parse_directory(data if data is not None else {}, source=f"directory file {path}")
    except DirectoryError as exc:
        line = _line_of(text, exc.user, exc.needle)
        if line is None:
            raise
        prefix = f"directory file {path}"
        raise DirectoryError(
            f"{prefix} line {line}{str(exc).removeprefix(prefix)}", user=exc.user, needle=exc.needle
        ) from None
