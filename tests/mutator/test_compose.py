"""The production stack: docker-compose.yml, the Dockerfile and the files under deploy/.

No Docker engine runs here, so nothing is built or started. The compose file is parsed with
PyYAML and checked; when Debian's `docker-compose` is on PATH, `docker-compose config` must
accept it too. The PostgreSQL init script runs against the test session's PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from sqlalchemy import create_engine, make_url, text

from mutator.store import Store
from mutator.temporal import SEARCH_ATTRIBUTES
from tests.helpers.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "initdb" / "10-mutator-store.sh"
SEARCH_ATTRIBUTE_SCRIPT = ROOT / "deploy" / "temporal" / "register-search-attributes.sh"

SERVICES = {
    "postgresql",
    "temporal",
    "temporal-ui",
    "temporal-setup",
    "mutator-migrate",
    "mutator-worker",
}
STORE_URL = "postgresql+psycopg://mutator:mutator@postgresql:5432/mutator"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}; `$${` is an escaped literal `${`.
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


def with_defaults(value: Any) -> Any:
    """The value as compose resolves it when no variable is set."""
    if isinstance(value, str):
        resolved = VARIABLE.sub(lambda m: m.group("rest").removeprefix(":-"), value)
        return resolved.replace("$$", "$")
    if isinstance(value, dict):
        return {key: with_defaults(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_defaults(item) for item in value]
    return value


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in with_defaults(env).items()}


def conditions(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on", {})
    assert isinstance(depends, dict), "depends_on must name a condition for each dependency"
    return {name: spec["condition"] for name, spec in depends.items()}


@pytest.fixture(scope="module")
def raw() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(raw: str) -> dict[str, Any]:
    loaded = yaml.safe_load(raw)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def test_the_stack_has_its_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_every_variable_has_a_default(raw: str) -> None:
    variables = list(VARIABLE.finditer(raw))
    assert variables, "settings are environment variables"
    missing = [m.group(0) for m in variables if not m.group("rest").startswith(":-")]
    assert not missing, f"variables without a `:-default`: {missing}"


def test_images_are_pinned_by_variable(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        pinned = re.fullmatch(r"(?P<repository>[^$]+|\$\{[^}]*\}):(?P<tag>\$\{[^}]*\})", image)
        assert pinned, f"{name}: the image {image!r} has no tag variable"
        repository, tag = pinned.group("repository"), pinned.group("tag")
        resolved = with_defaults(tag)
        assert resolved, f"{name}: default tag {resolved!r}"
        assert resolved != "latest", f"{name}: default tag {resolved!r}"
        if "build" not in service:
            assert not VARIABLE.search(repository), f"{name}: pulls {image!r}"
    assert with_defaults(services["postgresql"]["image"]).startswith("postgres:16")
    assert with_defaults(services["temporal"]["image"]).startswith("temporalio/auto-setup:")
    assert with_defaults(services["temporal-ui"]["image"]).startswith("temporalio/ui:")
    assert with_defaults(services["temporal-setup"]["image"]).startswith("temporalio/admin-tools:")


def test_postgresql_is_healthchecked_and_creates_the_store_database(
    services: dict[str, dict[str, Any]],
) -> None:
    postgresql = services["postgresql"]
    assert "pg_isready" in " ".join(postgresql["healthcheck"]["test"])
    volumes = with_defaults(postgresql["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in volumes), "a data volume"
    assert any(":/docker-entrypoint-initdb.d" in v for v in volumes), "the init script"
    assert INIT_SCRIPT.exists()
    env = env_of(postgresql)
    assert (env["MUTATOR_DB_USER"], env["MUTATOR_DB_NAME"]) == ("mutator", "mutator")


def test_temporal_runs_on_that_postgresql(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    assert conditions(temporal) == {"postgresql": "service_healthy"}
    env = env_of(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_USER"] == env_of(services["postgresql"])["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == env_of(services["postgresql"])["POSTGRES_PASSWORD"]
    # The store has its own database, apart from Temporal's two.
    assert "mutator" not in {env["DBNAME"], env["VISIBILITY_DBNAME"]}
    assert "temporal operator cluster health" in " ".join(temporal["healthcheck"]["test"])
    dynamic_config = ROOT / "deploy" / "temporal" / "dynamicconfig"
    assert (dynamic_config / Path(env["DYNAMIC_CONFIG_FILE_PATH"]).name).exists()


def test_the_ui_and_the_setup_wait_for_a_healthy_temporal(
    services: dict[str, dict[str, Any]],
) -> None:
    ui = services["temporal-ui"]
    assert conditions(ui) == {"temporal": "service_healthy"}
    assert env_of(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert any(p.endswith(":8080") for p in with_defaults(ui["ports"]))
    assert conditions(services["temporal-setup"]) == {"temporal": "service_healthy"}


def test_the_setup_registers_every_search_attribute_as_keyword(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["temporal-setup"]
    assert any("register-search-attributes.sh" in part for part in setup["entrypoint"])
    script = SEARCH_ATTRIBUTE_SCRIPT.read_text()
    assert "search-attribute create" in script
    assert "--type Keyword" in script
    for name in SEARCH_ATTRIBUTES:
        assert name in script, f"{name} is not registered"


def test_the_migration_and_the_worker(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["mutator-migrate"]
    worker = services["mutator-worker"]
    for service in (migrate, worker):
        assert with_defaults(service["build"])["context"] == "."
    assert migrate["command"] == ["mutator", "db", "upgrade"]
    assert conditions(migrate) == {"postgresql": "service_healthy"}
    assert conditions(worker) == {
        "temporal": "service_healthy",
        "temporal-setup": "service_completed_successfully",
        "mutator-migrate": "service_completed_successfully",
    }
    env = env_of(worker)
    assert env["MUTATOR_DATABASE_URL"] == STORE_URL
    assert env_of(migrate)["MUTATOR_DATABASE_URL"] == STORE_URL
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["MUTATOR_MAX_CONCURRENT_MUTATIONS"] == "10"
    assert env["MUTATOR_APP"] == "mutator.example_app:app"
    # Scalable: a fixed container name would refuse `--scale mutator-worker=N`.
    assert "container_name" not in worker


def test_bind_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in with_defaults(service.get("volumes", [])):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts a missing {source}"


def test_the_dockerfile() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    args = dict(
        line.removeprefix("ARG ").split("=", 1) for line in instructions if line.startswith("ARG ")
    )
    base = next(line for line in instructions if line.startswith("FROM "))
    resolved = VARIABLE.sub(lambda m: args[m.group("name")], base)
    assert resolved == "FROM python:3.11-slim"
    assert any(re.fullmatch(r"RUN pip install \. \\?", line) for line in instructions), (
        "installs the project without extras"
    )
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "runs as a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert instructions[-1] == 'CMD ["mutator", "worker"]'
    for variable in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "MUTATOR_APP"):
        assert variable in DOCKERFILE.read_text()


def test_docker_compose_config_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip(
            "docker-compose is not on PATH; install Debian's package "
            "(apt-get install -y docker-compose) to validate with `docker-compose config`"
        )
    # A clean environment, so the defaults in the file apply (not the caller's settings).
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    done = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == SERVICES
    worker_env = resolved["services"]["mutator-worker"]["environment"]
    assert worker_env["MUTATOR_DATABASE_URL"] == STORE_URL
    assert worker_env["TEMPORAL_ADDRESS"] == "temporal:7233"


@pytest.mark.postgres
def test_the_init_script_creates_a_store_the_worker_can_migrate(
    postgres_server: PostgresServer,
) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not on PATH (Debian's postgresql-client package)")
    admin = make_url(postgres_server.admin_url)
    suffix = uuid.uuid4().hex[:10]
    role, database, password = f"mutator_{suffix}", f"mutator_store_{suffix}", "s3cr'et"
    env = {
        **os.environ,
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "PGPASSWORD": admin.password or "",
        "POSTGRES_USER": admin.username or "postgres",
        "POSTGRES_DB": admin.database or "postgres",
        "MUTATOR_DB_USER": role,
        "MUTATOR_DB_PASSWORD": password,
        "MUTATOR_DB_NAME": database,
    }
    outsider = f"outsider_{suffix}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        for _ in range(2):  # idempotent: a second run changes nothing and succeeds
            done = subprocess.run(
                ["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
        with engine.connect() as conn:
            owner = conn.execute(
                text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :name"),
                {"name": database},
            ).scalar_one()
            assert owner == role
            conn.execute(text(f'CREATE ROLE "{outsider}" NOLOGIN'))
            can_connect = conn.execute(
                text("SELECT has_database_privilege(:who, :db, 'CONNECT')"),
                {"who": outsider, "db": database},
            ).scalar_one()
            assert can_connect is False, "only the store's role may connect"
        url = admin.set(username=role, password=password, database=database)
        store = Store.from_url(url.render_as_string(hide_password=False))
        try:
            store.migrate()  # what `mutator db upgrade` does, as the store's own role
            store.check_schema()
        finally:
            store.dispose()
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{outsider}"'))
        engine.dispose()
