"""The directory with keys: in code, in TOML and YAML files, and every refusal naming its cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from mutator import MutationApp, PolicyContext, PolicyDecision, RequireApprovals, RequireChecks
from mutator.errors import MutatorInputError
from mutator.identity.directory import (
    Directory,
    DirectoryError,
    load_directory_file,
    parse_directory,
    parse_public_key,
)
from mutator.loader import load_app
from tests.mutator.identity.keys import SshKey, make_key


def test_fingerprints_are_the_ones_ssh_keygen_prints(alice_key: SshKey) -> None:
    key = parse_public_key(alice_key.public_line)
    assert key.fingerprint == alice_key.fingerprint()
    assert key.key_type == "ssh-ed25519"
    assert key.comment == "alice@test"
    assert alice_key.public_line.startswith(key.openssh)


def test_both_entry_forms_in_code(alice_key: SshKey) -> None:
    directory = parse_directory(
        {"alice": {"roles": ["sre"], "keys": [alice_key.public_line]}, "bob": ["sre", "dba"]}
    )
    assert directory.roles() == {"alice": frozenset({"sre"}), "bob": frozenset({"sre", "dba"})}
    assert directory.key_owner(alice_key.fingerprint()) == "alice"
    assert directory.members["bob"].keys == ()
    assert "bob" in directory
    assert "carol" not in directory


def test_mutation_app_accepts_both_forms_and_policies_see_roles_as_before(
    alice_key: SshKey,
) -> None:
    app = MutationApp(
        directory={
            "alice": {"roles": ["sre"], "keys": [alice_key.public_line]},
            "bob": ["sre"],
            "carol": {"roles": ["finance"]},
        }
    )
    assert app.directory == {
        "alice": frozenset({"sre"}),
        "bob": frozenset({"sre"}),
        "carol": frozenset({"finance"}),
    }
    assert app.users_with_roles({"sre"}) == {"alice", "bob"}
    assert app.identities.key_owner(alice_key.fingerprint()) == "alice"
    assert MutationApp().directory == {}


def test_mutation_app_refuses_a_bad_key_in_code() -> None:
    with pytest.raises(
        DirectoryError, match=r"MutationApp\(directory=\.\.\.\): user 'alice': key 1"
    ):
        MutationApp(directory={"alice": {"roles": [], "keys": ["ssh-ed25519 not-base64!"]}})


TOML = """\
# operators edit this file
bob = ["sre"]

[alice]
roles = ["sre", "dba"]
keys = [
    "{alice}",
]
"""


def test_toml_file(tmp_path: Path, alice_key: SshKey) -> None:
    path = tmp_path / "directory.toml"
    path.write_text(TOML.format(alice=alice_key.public_line))
    directory = load_directory_file(path)
    assert directory.roles() == {"alice": frozenset({"sre", "dba"}), "bob": frozenset({"sre"})}
    assert directory.key_owner(alice_key.fingerprint()) == "alice"


def test_yaml_file(tmp_path: Path, alice_key: SshKey, bob_key: SshKey) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(
        f"alice:\n  roles: [sre]\n  keys:\n    - {alice_key.public_line}\n"
        f"bob:\n  roles: [sre]\n  keys: ['{bob_key.public_line}']\ncarol: [finance]\n"
    )
    directory = load_directory_file(path)
    assert directory.key_owner(bob_key.fingerprint()) == "bob"
    assert directory.roles()["carol"] == frozenset({"finance"})


def test_an_empty_file_is_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "empty.yml").write_text("")
    assert load_directory_file(tmp_path / "empty.toml") == Directory({})
    assert load_directory_file(tmp_path / "empty.yml") == Directory({})


def refusal(path: Path) -> str:
    with pytest.raises(DirectoryError) as caught:
        load_directory_file(path)
    assert isinstance(caught.value, MutatorInputError)  # the CLI exits 2 on it
    return str(caught.value)


def test_a_bad_key_line_is_refused_naming_file_line_and_user(
    tmp_path: Path, alice_key: SshKey
) -> None:
    path = tmp_path / "d.toml"
    path.write_text(
        f'bob = ["sre"]\n\n[alice]\nroles = ["sre"]\nkeys = [\n  "{alice_key.public_line}",\n'
        '  "ssh-ed25519 AAAAbroken",\n]\n'
    )
    message = refusal(path)
    assert message.startswith(f"directory file {path} line 7: user 'alice': key 2: ")
    assert "does not decode" in message


def test_a_line_that_is_not_a_key_at_all(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('[alice]\nroles = []\nkeys = ["my laptop key"]\n')
    message = refusal(path)
    assert f"{path} line 3: user 'alice': key 1: key type 'my' is not accepted" in message


def test_only_ed25519_keys_are_accepted(tmp_path: Path) -> None:
    rsa = make_key(tmp_path, "rsa", key_type="rsa")
    path = tmp_path / "d.toml"
    path.write_text(f'[alice]\nkeys = ["{rsa.public_line}"]\n')
    message = refusal(path)
    assert "user 'alice': key 1: key type 'ssh-rsa' is not accepted (accepted: ssh-ed25519)" in (
        message
    )


def test_the_same_key_twice_under_one_user(tmp_path: Path, alice_key: SshKey) -> None:
    path = tmp_path / "d.toml"
    path.write_text(f'[alice]\nkeys = ["{alice_key.public_line}", "{alice_key.public_line}"]\n')
    message = refusal(path)
    assert f"line 2: user 'alice': duplicate key {alice_key.fingerprint()} (twice)" in message


def test_the_same_key_under_two_users(tmp_path: Path, alice_key: SshKey) -> None:
    path = tmp_path / "d.yaml"
    line = alice_key.public_line
    path.write_text(f"alice:\n  keys: ['{line}']\nmallory:\n  roles: [sre]\n  keys: ['{line}']\n")
    message = refusal(path)
    assert (
        f"{path} line 5: user 'mallory': duplicate key {alice_key.fingerprint()} "
        "(also under user 'alice')" in message
    )


def test_an_unknown_field(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('[alice]\nroles = ["sre"]\nrole = "admin"\n')
    message = refusal(path)
    assert f"{path} line 3: user 'alice': unknown field 'role' (fields: roles, keys)" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('bob = "sre"\n', 1),
        ('[bob]\nroles = "sre"\n', 2),
        ("[bob]\nroles = [1, 2]\n", 2),
        ("bob = 3\n", 1),
    ],
)
def test_roles_must_be_a_list_of_strings(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "d.toml"
    path.write_text(text)
    message = refusal(path)
    assert f"{path} line {line}: user 'bob': roles must be" in message


def test_keys_must_be_a_list(tmp_path: Path, alice_key: SshKey) -> None:
    path = tmp_path / "d.toml"
    path.write_text(f'[alice]\nkeys = "{alice_key.public_line}"\n')
    assert "line 2: user 'alice': keys must be a list of OpenSSH key lines" in refusal(path)


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('bob = ["sre"]\nalice = ["sre" "dba"]\n')
    message = refusal(path)
    assert message.startswith(f"directory file {path} line 2: not valid TOML")
    assert "not valid TOML" in message


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("bob: [sre]\nalice: [sre\ncarol: x\n")
    message = refusal(path)
    assert message.startswith(f"directory file {path} line ")
    assert "not valid YAML" in message


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("- alice\n- bob\n")
    assert "must map user ids to entries, got list" in refusal(path)


def test_an_unreadable_file(tmp_path: Path) -> None:
    assert f"directory file {tmp_path / 'nope.toml'}: cannot be read" in refusal(
        tmp_path / "nope.toml"
    )


# -- the file replaces the app's directory, read when the app is loaded ------------------------

APP_MODULE = """\
from mutator import MutationApp, RequireApprovals

app = MutationApp(directory={"zed": ["sre"], "alice": ["sre"]})

@app.mutation("counter.add")
def add(state, payload):
    return {**state, "value": state.get("value", 0) + payload["amount"]}

@app.policy("counter.*")
def named(ctx):
    return RequireApprovals(1, approvers={"alice"}, roles={"sre"})
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "idapp_module.py").write_text(APP_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_file_replaces_the_in_code_directory(project: Path) -> None:
    path = project / "directory.toml"
    path.write_text('alice = ["dba"]\ndave = ["sre"]\n')
    app = load_app("idapp_module:app", path)
    assert app.directory == {"alice": frozenset({"dba"}), "dave": frozenset({"sre"})}
    assert app.users_with_roles({"sre"}) == {"dave"}  # zed, only in code, is gone


def test_the_file_is_read_when_the_app_loads_and_not_after(project: Path) -> None:
    path = project / "directory.toml"
    path.write_text('alice = ["sre"]\n')
    app = load_app("idapp_module:app", path)
    path.write_text('alice = ["sre"]\nerin = ["sre"]\n')
    assert app.users_with_roles({"sre"}) == {"alice"}  # a running worker keeps what it read
    assert load_app("idapp_module:app", path).users_with_roles({"sre"}) == {"alice", "erin"}


def test_a_policy_approver_missing_from_the_file_is_refused_at_load(project: Path) -> None:
    path = project / "directory.toml"
    path.write_text('dave = ["sre"]\n')
    with pytest.raises(MutatorInputError) as caught:
        load_app("idapp_module:app", path)
    message = str(caught.value)
    assert message.startswith(f"directory file {path}: policy 'named' (")
    assert "idapp_module.py:11) names approver 'alice', who is not in the directory" in message


# -- which approvers the policies' source names ------------------------------------------------

TEAM = frozenset({"carol", "dave"})


def test_unknown_approvers_in_every_static_form() -> None:
    app = MutationApp(directory={"alice": ["sre"]})

    @app.policy("a.*")
    def literal(ctx: PolicyContext) -> PolicyDecision:
        return RequireApprovals(1, approvers={"alice", "bob"})

    @app.policy("b.*")
    def positional(ctx: PolicyContext) -> PolicyDecision:
        return RequireApprovals(1, {"erin"})

    @app.policy("c.*")
    def module_constant(ctx: PolicyContext) -> PolicyDecision:
        return RequireApprovals(1, approvers=TEAM)

    @app.policy("d.*")
    def computed(ctx: PolicyContext) -> PolicyDecision:
        return RequireApprovals(1, approvers={ctx.requester + "-lead"})

    @app.policy("e.*")
    def wrapped(ctx: PolicyContext) -> PolicyDecision:
        return RequireApprovals(1, approvers=frozenset(["frank"]))

    problems = app.unknown_approvers()
    named = [p.split(" names approver ")[1].split(",")[0] for p in problems]
    assert named == ["'bob'", "'erin'", "'carol'", "'dave'", "'frank'"]
    assert problems[0].startswith("policy 'literal' (")
    assert __file__ in problems[0]


def test_unknown_check_reporters_are_found_too() -> None:
    app = MutationApp(directory={"alice": ["sre"], "ci-bot": ["ci"]})

    @app.policy("a.*")
    def checks(ctx: PolicyContext) -> PolicyDecision:
        return RequireChecks("ci", reporters={"ci-bot", "jenkins"}, roles={"ci"})

    (problem,) = app.unknown_approvers()
    assert " names reporter 'jenkins', who is not in the directory" in problem
    assert problem.startswith("policy 'checks' (")


def test_a_policy_without_source_names_no_approver() -> None:
    app = MutationApp()
    app.policy("*")(eval("lambda ctx: None"))  # no source file to read
    assert app.unknown_approvers() == []


def test_the_documented_directory_files_parse(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[3] / "docs" / "security.md").read_text()
    for index, snippet in enumerate(docs.split("```toml\n")[1:]):
        load_directory_file(write_file(tmp_path / f"any-{index}.toml", snippet.split("```")[0]))
    docs = docs.split("\n## The directory and keys\n", 1)[1]
    for suffix, fence in (("toml", "```toml\n"), ("yaml", "```yaml\n")):
        text = docs.split(fence, 1)[1].split("```", 1)[0]
        directory = load_directory_file(write_file(tmp_path / f"team.{suffix}", text))
        assert directory.roles() == {"bob": frozenset({"sre"}), "alice": frozenset({"sre"})}
        assert directory.members["alice"].keys[0].comment == "alice@laptop"


def write_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_user_twice_in_a_yaml_file(tmp_path: Path) -> None:
    path = write_file(tmp_path / "d.yaml", "alice: [sre]\nbob: [sre]\nalice: [dba]\n")
    assert refusal(path) == f"directory file {path} line 3: 'alice' appears twice in one mapping"


def test_a_user_twice_in_a_toml_file(tmp_path: Path) -> None:
    path = write_file(tmp_path / "d.toml", 'alice = ["sre"]\nalice = ["dba"]\n')
    assert refusal(path).startswith(f"directory file {path} line 2: not valid TOML")
