"""`mutator audit --verify --directory/--app`: every stored signature is re-verified against
the directory's keys; a tampered proof, an unknown key, another user's key and an unsigned
person's decision exit 1 naming the row; `show` and `audit` mark each person's decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from mutator.store import Store
from tests.helpers.cli_stack import CliResult, clean_env, run_mutator
from tests.helpers.signed_records import Keys, directory_toml, make_keys, sign, signed_record

UNCHECKED = "signatures not checked (give --directory or --app)"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def recorded(db_url: str, keys: Keys) -> str:
    """signed_record: six signed decisions of alice and bob, and carol's unsigned submit."""
    store = Store.from_url(db_url)
    try:
        signed_record(store, keys)
    finally:
        store.dispose()
    return db_url


@pytest.fixture
def team(tmp_path: Path, keys: Keys) -> Path:
    """The directory file: alice's and bob's keys; carol has none."""
    path = tmp_path / "team.toml"
    path.write_text(directory_toml(("alice", keys.alice), ("bob", keys.bob), ("carol", None)))
    return path


def mutator(db_url: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return run_mutator(*args, "--db", db_url, env=clean_env(env), cwd=cwd)


def snapshot(db_url: str) -> list[tuple[object, ...]]:
    """Every decision and request row, to show that nothing changed."""
    store = Store.from_url(db_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM mutator_decisions ORDER BY 1, 2")).all()
            requests = conn.execute(text("SELECT * FROM mutator_requests ORDER BY 1")).all()
        return [tuple(r) for r in [*rows, *requests]]
    finally:
        store.dispose()


def tamper(db_url: str, statement: str, **params: object) -> None:
    store = Store.from_url(db_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        store.dispose()


def problems(result: CliResult) -> set[tuple[str, int, str, str | None, str | None]]:
    return {
        (p["chain_id"], p["position"], p["kind"], p["code"], p["actor"])
        for p in result.json()["problems"]
    }


def write_app(cwd: Path, keys: Keys, identity: str) -> str:
    """A module ``<identity>_app`` in ``cwd`` with an app in ``identity`` mode; its spec."""
    directory = {
        "alice": {"roles": ["sre"], "keys": [keys.alice.public_line]},
        "bob": {"roles": ["sre"], "keys": [keys.bob.public_line]},
        "carol": ["sre"],
    }
    (cwd / f"{identity}_app.py").write_text(
        "from mutator import MutationApp\n"
        f"app = MutationApp(directory={directory!r}, identity={identity!r})\n"
    )
    return f"{identity}_app:app"


def cells(line: str) -> list[str]:
    """The cells of one row of a table."""
    return [cell.strip() for cell in line.split("│")[1:-1]]


def test_a_directory_verifies_every_signature_and_names_the_unsigned_submit(
    recorded: str, team: Path, tmp_path: Path
) -> None:
    result = mutator(recorded, tmp_path, "audit", "--verify", "--directory", str(team))
    assert result.code == 1, result
    assert "seq 1 (submitted by carol)" in result.stdout
    assert "unsigned" in result.stdout
    assert "a submit by 'carol' without a signature: the name was only claimed" in result.stdout
    assert (
        "signatures: 6 verified against the directory's keys; every person's decision must be "
        "signed" in result.stdout
    )
    as_json = mutator(recorded, tmp_path, "audit", "--verify", "--directory", str(team), "--json")
    assert as_json.code == 1, as_json
    assert problems(as_json) == {("claimed", 1, "unsigned", "submitted", "carol")}
    assert as_json.json()["signatures"] == "required"
    assert as_json.json()["signed"] == 6

    # The same through MUTATOR_DIRECTORY, and a record without the claimed request verifies.
    env = {"MUTATOR_DIRECTORY": str(team)}
    clean = mutator(recorded, tmp_path, "audit", "--verify", "--request", "approved", env=env)
    assert clean.code == 0, clean
    assert "record verified: 5 decisions of 1 requests" in clean.stdout
    assert "signatures: 2 verified against the directory's keys" in clean.stdout


def test_without_a_directory_signatures_are_not_checked(recorded: str, tmp_path: Path) -> None:
    result = mutator(recorded, tmp_path, "audit", "--verify")
    assert result.code == 0, result
    assert UNCHECKED in result.stdout


def test_a_claimed_app_lists_unsigned_decisions_without_failing(
    recorded: str, keys: Keys, tmp_path: Path
) -> None:
    spec = write_app(tmp_path, keys, "claimed")
    result = mutator(recorded, tmp_path, "audit", "--verify", "--app", spec)
    assert result.code == 0, result
    assert "record verified" in result.stdout
    assert "1 decisions of persons are unsigned (identity: claimed" in result.stdout
    rows = [cells(line) for line in result.stdout.splitlines() if "│" in line]
    assert rows == [["claimed", "1", "submitted", "carol"]]
    as_json = mutator(recorded, tmp_path, "audit", "--verify", "--app", spec, "--json").json()
    assert as_json["signatures"] == "claimed_allowed"
    assert as_json["claimed"] == [
        {"request_id": "claimed", "seq": 1, "code": "submitted", "actor": "carol"}
    ]
    assert as_json["ok"] is True

    # With a directory file too, the app keeps its mode and the file's keys are used, as the
    # worker reads them: here bob's key is gone.
    without_bob = tmp_path / "without-bob.toml"
    without_bob.write_text(directory_toml(("alice", keys.alice), ("bob", None), ("carol", None)))
    both = mutator(
        recorded, tmp_path, "audit", "--verify", "--app", spec, "--directory", str(without_bob)
    )
    assert both.code == 1, both
    assert "1 decisions of persons are unsigned (identity: claimed" in both.stdout
    both_json = mutator(
        recorded,
        tmp_path,
        "audit",
        "--verify",
        "--app",
        spec,
        "--directory",
        str(without_bob),
        "--json",
    )
    assert problems(both_json) == {
        ("approved", 3, "unknown_key", "approved", "bob"),
        ("rejected", 3, "unknown_key", "rejected", "bob"),
    }

    # A signed app requires every person's decision to be signed.
    signed_spec = write_app(tmp_path, keys, "signed")
    signed = mutator(recorded, tmp_path, "audit", "--verify", "--app", signed_spec, "--json")
    assert signed.code == 1, signed
    assert problems(signed) == {("claimed", 1, "unsigned", "submitted", "carol")}


def test_a_proof_signed_by_another_key_is_named(
    recorded: str, keys: Keys, team: Path, tmp_path: Path
) -> None:
    """alice's cancel replaced by one bob signed: the chain breaks and the key is bob's."""
    store = Store.from_url(recorded)
    try:
        request = store.get_request("canceled")
    finally:
        store.dispose()
    assert request is not None
    forged = sign(keys.bob, request, "cancel", "alice", "wrong account")
    tamper(
        recorded,
        "UPDATE mutator_decisions SET proof_envelope = :e, proof_signature = :s, "
        "proof_fingerprint = :f WHERE request_id = 'canceled' AND seq = 3",
        e=json.dumps(forged.envelope),
        s=forged.signature,
        f=forged.fingerprint,
    )
    before = snapshot(recorded)
    result = mutator(
        recorded, tmp_path, "audit", "--verify", "--directory", str(team), "--request", "canceled"
    )
    assert result.code == 1, result
    for shown in ("canceled", "seq 3 (canceled by alice)", "edited", "key_of_another_user"):
        assert shown in result.stdout, result
    as_json = mutator(
        recorded,
        tmp_path,
        "audit",
        "--verify",
        "--directory",
        str(team),
        "--request",
        "canceled",
        "--json",
    )
    assert problems(as_json) == {
        ("canceled", 3, "edited", "canceled", "alice"),
        ("canceled", 3, "key_of_another_user", "canceled", "alice"),
    }
    assert snapshot(recorded) == before


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param(
            "UPDATE mutator_decisions SET proof_signature = NULL "
            "WHERE request_id = 'approved' AND seq = 3",
            {
                ("approved", 3, "edited", "approved", "bob"),
                ("approved", 3, "malformed_proof", "approved", "bob"),
            },
            id="signature nulled",
        ),
        pytest.param(
            "UPDATE mutator_decisions SET proof_fingerprint = 'SHA256:x' "
            "WHERE request_id = 'approved' AND seq = 1",
            {
                ("approved", 1, "edited", "submitted", "alice"),
                ("approved", 1, "bad_signature", "submitted", "alice"),
            },
            id="proof column edited",
        ),
        pytest.param(
            "DELETE FROM mutator_decisions WHERE request_id = 'approved' AND seq = 3",
            {("approved", 3, "deleted", None, None)},
            id="signed row deleted",
        ),
    ],
)
def test_tampered_signed_rows_exit_1_naming_the_row(
    recorded: str, team: Path, tmp_path: Path, statement: str, expected: set[object]
) -> None:
    tamper(recorded, statement)
    result = mutator(
        recorded, tmp_path, "audit", "--verify", "--directory", str(team), "--request", "approved"
    )
    assert result.code == 1, result
    as_json = mutator(
        recorded,
        tmp_path,
        "audit",
        "--verify",
        "--directory",
        str(team),
        "--request",
        "approved",
        "--json",
    )
    assert as_json.code == 1, as_json
    assert problems(as_json) == expected


def test_swapped_signed_rows_are_named(recorded: str, team: Path, tmp_path: Path) -> None:
    for statement in (
        "UPDATE mutator_decisions SET seq = 99 WHERE request_id = 'approved' AND seq = 1",
        "UPDATE mutator_decisions SET seq = 1 WHERE request_id = 'approved' AND seq = 3",
        "UPDATE mutator_decisions SET seq = 3 WHERE request_id = 'approved' AND seq = 99",
    ):
        tamper(recorded, statement)
    as_json = mutator(recorded, tmp_path, "audit", "--verify", "--directory", str(team), "--json")
    assert as_json.code == 1, as_json
    assert problems(as_json) == {
        ("approved", 1, "reordered", "approved", "bob"),
        ("approved", 3, "reordered", "submitted", "alice"),
        ("claimed", 1, "unsigned", "submitted", "carol"),
    }


def test_a_key_removed_from_the_directory_file_is_unknown(
    recorded: str, keys: Keys, tmp_path: Path
) -> None:
    team = tmp_path / "team.toml"
    team.write_text(directory_toml(("alice", keys.alice), ("bob", None), ("carol", None)))
    result = mutator(
        recorded, tmp_path, "audit", "--verify", "--directory", str(team), "--request", "rejected"
    )
    assert result.code == 1, result
    assert "seq 3 (rejected by bob)" in result.stdout
    assert "unknown_key" in result.stdout
    assert f"signing key {keys.bob.fingerprint()} belongs to no user of the directory" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--directory", "missing.toml"), "missing.toml", id="directory file missing"),
        pytest.param(
            ("--directory", "bad.toml"),
            "directory file bad.toml line 3: user 'alice': key 1: ssh-ed25519 key AAAAx",
            id="directory file with a bad key line",
        ),
        pytest.param(
            ("--app", "nope_module:app"),
            "--app 'nope_module:app': cannot import module 'nope_module'",
            id="app not importable",
        ),
    ],
)
def test_a_bad_directory_or_app_is_bad_input(
    recorded: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "bad.toml").write_text('[alice]\nroles = ["sre"]\nkeys = ["ssh-ed25519 AAAAx"]\n')
    before = snapshot(recorded)
    result = mutator(recorded, tmp_path, "audit", "--verify", *args)
    assert result.code == 2, result
    assert result.stderr.startswith("error: "), result
    assert message in result.stderr, result
    assert result.stdout == ""
    assert snapshot(recorded) == before


def test_show_and_audit_mark_each_persons_decision(
    recorded: str, keys: Keys, tmp_path: Path
) -> None:
    alice, bob = keys.alice.fingerprint(), keys.bob.fingerprint()
    show = mutator(recorded, tmp_path, "show", "approved")
    assert show.code == 0, show
    rows = [cells(line) for line in show.stdout.splitlines() if "│" in line]
    # at, category, code, actor, reason, identity
    assert [(r[2], r[3], r[5]) for r in rows] == [
        ("submitted", "alice", f"signed: {alice}"),
        ("pending", "policy", ""),
        ("approved", "bob", f"signed: {bob}"),
        ("approved", "approvers", ""),
        ("executed", "system", ""),
    ]
    claimed = mutator(recorded, tmp_path, "show", "claimed")
    rows = [cells(line) for line in claimed.stdout.splitlines() if "│" in line]
    assert [(r[2], r[5]) for r in rows] == [("submitted", "identity: claimed"), ("pending", "")]

    audit = mutator(recorded, tmp_path, "audit", "--request", "rejected")
    assert audit.code == 0, audit
    rows = [cells(line) for line in audit.stdout.splitlines() if "│" in line]
    # at, request, state, category, code, actor, reason, identity; bob's vote and the
    # rejection it caused: one proof covers both rows.
    assert [(r[4], r[7]) for r in rows] == [
        ("submitted", f"signed: {alice}"),
        ("pending", ""),
        ("rejected", f"signed: {bob}"),
        ("rejected:approver_rejected", f"signed: {bob}"),
    ]

    as_json = mutator(recorded, tmp_path, "show", "approved", "--json").json()
    proofs = [d["proof"] for d in as_json["decisions"]]
    assert proofs[0]["fingerprint"] == alice
    assert proofs[0]["envelope"]["action"] == "submit"
    assert proofs[2]["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    assert proofs[1] is None
    entries = mutator(recorded, tmp_path, "audit", "--request", "claimed", "--json").json()
    assert [e["proof"] for e in entries] == [None, None]
