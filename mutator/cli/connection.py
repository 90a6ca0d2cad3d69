"""The connection options (`--address`, `--namespace`, TLS, `--db`, `--task-queue`, `--json`).

The commands that act as a user also take the signing options (`--key`, `--ssh-agent`,
`--sign/--no-sign`; mutator/cli/signing.py applies them).

They are declared once, here. A command asks for them by taking a `Connection` as its first
parameter and registering with `connected_command`: the options are appended to the
command's own (so they go after the command name, `mutator show r1 --db ...`, and its
`--help` lists them), and the values of one invocation arrive as one `Connection`, which
opens a client or a store reader for it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any, Concatenate, ParamSpec, TypeAlias, TypeVar

import typer

from mutator.cli.common import INTERRUPTED, fail, print_request, run
from mutator.errors import MutatorError, MutatorInputError
from mutator.models import MutationRequest
from mutator.settings import DEFAULT_DATABASE_URL, TASK_QUEUE
from mutator.temporal_tls import TemporalTLS

if TYPE_CHECKING:
    # Only the commands that talk to Temporal import the client (and so the Temporal SDK):
    # the read commands answer from the store without paying for that import.
    from mutator.client import MutatorClient
    from mutator.identity.signing import Signer
    from mutator.reader import StoreReader

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Connection:
    """Where one invocation connects, how it prints and signs: its connection options' values."""

    db: str = DEFAULT_DATABASE_URL
    as_json: bool = False
    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = TASK_QUEUE
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_server_name: str | None = None
    api_key: str | None = None
    key: str | None = None
    ssh_agent: bool = False
    sign: bool | None = None

    def temporal_tls(self) -> TemporalTLS | bool:
        """The TLS settings of these options: a `TemporalTLS` when a file or name is set."""
        if any(
            value is not None
            for value in (self.tls_ca, self.tls_cert, self.tls_key, self.tls_server_name)
        ):
            return TemporalTLS(
                ca=self.tls_ca,
                cert=self.tls_cert,
                key=self.tls_key,
                server_name=self.tls_server_name,
            )
        return self.tls

    def secured(self) -> list[str]:
        """The TLS and API key options that are set (for commands that cannot use them)."""
        names = {
            "--tls (TEMPORAL_TLS)": self.tls,
            "--tls-ca (TEMPORAL_TLS_CA)": self.tls_ca is not None,
            "--tls-cert (TEMPORAL_TLS_CERT)": self.tls_cert is not None,
            "--tls-key (TEMPORAL_TLS_KEY)": self.tls_key is not None,
            "--tls-server-name (TEMPORAL_TLS_SERVER_NAME)": self.tls_server_name is not None,
            "--api-key (TEMPORAL_API_KEY)": self.api_key is not None,
        }
        return [name for name, given in names.items() if given]

    def refuse_tls(self, why: str) -> None:
        """Exit 2 naming the TLS and API key options set, for a command that cannot use them.

        Raises:
            typer.Exit: One of them is set (flag or environment).
        """
        secured = self.secured()
        if secured:
            raise self.fail(
                MutatorInputError(
                    f"{', '.join(secured)}: {why} and cannot use TLS or an API key; unset "
                    "them for it (and for the commands that talk to it), or use `mutator "
                    "worker` against your TLS cluster"
                )
            )

    def run(self, work: Callable[[], Awaitable[T]], *, interrupted_exit: int = INTERRUPTED) -> T:
        """Run ``work``; a ``MutatorError`` becomes a message and its exit code."""
        return run(self.as_json, work, interrupted_exit=interrupted_exit)

    def fail(self, error: MutatorError) -> typer.Exit:
        """Print ``error`` as this invocation prints, and return its exit."""
        return fail(error, self.as_json)

    def print_request(self, req: MutationRequest, ui_url: str | None = None) -> None:
        """Print a request as this invocation prints (JSON or a table)."""
        print_request(req, self.as_json, ui_url)

    def client(
        self, action: Callable[[MutatorClient], Awaitable[T]], *, signer: Signer | None = None
    ) -> T:
        """Connect to Temporal and the store, run ``action``, close both."""

        async def work() -> T:
            from mutator.client import MutatorClient

            client = await MutatorClient.connect(
                self.address,
                self.namespace,
                self.db,
                task_queue=self.task_queue,
                tls=self.temporal_tls(),
                api_key=self.api_key,
                signer=signer,
            )
            try:
                return await action(client)
            finally:
                await client.close()

        return self.run(work)

    def read(
        self, action: Callable[[StoreReader], Awaitable[T]], *, quiet_interrupt: bool = False
    ) -> T:
        """Reads come from the SQL store alone: they work while Temporal is down.

        ``quiet_interrupt``: Ctrl-C is the way to stop it, so it exits 0 and says nothing.
        """

        async def work() -> T:
            from mutator.reader import StoreReader
            from mutator.store import Store

            store = Store.from_url(self.db)
            try:
                await asyncio.to_thread(store.check_schema)
            except BaseException:
                store.dispose()
                raise
            reader = StoreReader(store)
            try:
                return await action(reader)
            finally:
                await reader.close()

        if quiet_interrupt:
            return run(self.as_json, work, interrupted_exit=0, quiet_interrupt=True)
        return self.run(work)


def _option(name: str, annotation: Any, default: object) -> inspect.Parameter:
    # Keyword-only: they follow a command's own parameters whatever those declare.
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


# Each parameter is named after the `Connection` field it fills.
ADDRESS = _option(
    "address",
    Annotated[
        str,
        typer.Option("--address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port."),
    ],
    DEFAULT_ADDRESS,
)
# Reads come from the store alone; these commands accept the Temporal options so scripts can
# pass the same flags to every command.
READ_ADDRESS = _option(
    "address",
    Annotated[
        str,
        typer.Option(
            "--address",
            envvar="TEMPORAL_ADDRESS",
            help="Accepted for symmetry; reads use the store.",
        ),
    ],
    DEFAULT_ADDRESS,
)
NAMESPACE = _option(
    "namespace",
    Annotated[
        str, typer.Option("--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace.")
    ],
    DEFAULT_NAMESPACE,
)
DATABASE = _option(
    "db",
    Annotated[
        str,
        typer.Option("--db", envvar="MUTATOR_DATABASE_URL", help="SQLAlchemy URL of the store."),
    ],
    DEFAULT_DATABASE_URL,
)
TASK_QUEUE_OPTION = _option(
    "task_queue",
    Annotated[
        str, typer.Option("--task-queue", envvar="MUTATOR_TASK_QUEUE", help="Worker task queue.")
    ],
    TASK_QUEUE,
)
AS_JSON = _option(
    "as_json",
    Annotated[
        bool, typer.Option("--json", help='Print JSON (errors as {"error": ...}) on stdout.')
    ],
    False,
)

# TLS and API key: the names of `temporal`'s own options are accepted too (`temporal options`).
TLS = _option(
    "tls",
    Annotated[
        bool,
        typer.Option(
            "--tls",
            envvar="TEMPORAL_TLS",
            show_envvar=True,
            help="Connect to Temporal over TLS, verified against the system's CAs. On "
            "whenever a --tls-* option or --api-key is set.",
        ),
    ],
    False,
)


def _path_option(name: str, flag: str, envvars: list[str], help_text: str) -> inspect.Parameter:
    return _option(
        name,
        Annotated[
            str | None,
            typer.Option(flag, f"{flag}-path", envvar=envvars, help=help_text, show_envvar=True),
        ],
        None,
    )


TLS_CA = _path_option(
    "tls_ca",
    "--tls-ca",
    ["TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"],
    "PEM file of the CA that signed the Temporal server's certificate (a private CA); "
    "default: the system's CAs.",
)
TLS_CERT = _path_option(
    "tls_cert",
    "--tls-cert",
    ["TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_CERT_PATH"],
    "PEM file of the client certificate for mutual TLS (needs --tls-key).",
)
TLS_KEY = _path_option(
    "tls_key",
    "--tls-key",
    ["TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_KEY_PATH"],
    "PEM file of the client certificate's private key, unencrypted (needs --tls-cert).",
)
TLS_SERVER_NAME = _option(
    "tls_server_name",
    Annotated[
        str | None,
        typer.Option(
            "--tls-server-name",
            envvar="TEMPORAL_TLS_SERVER_NAME",
            show_envvar=True,
            help="The name in the server's certificate, when it is not the address's host.",
        ),
    ],
    None,
)
API_KEY = _option(
    "api_key",
    Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="TEMPORAL_API_KEY",
            show_envvar=True,
            help="Temporal API key (Temporal Cloud), sent as a bearer token; turns TLS on. "
            "Prefer the environment variable: a flag shows in the process list.",
        ),
    ],
    None,
)
SECURITY_OPTIONS = (TLS, TLS_CA, TLS_CERT, TLS_KEY, TLS_SERVER_NAME, API_KEY)

# Signing (docs/cli.md, "Signing"; the rules are mutator/cli/signing.py's).
KEY = _option(
    "key",
    Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="MUTATOR_SIGNING_KEY",
            show_envvar=True,
            help="Sign with this OpenSSH ed25519 private key (a .pub: through ssh-agent). "
            "Default for --sign, --ssh-agent and votes on a signed request: ~/.ssh/id_ed25519.",
        ),
    ],
    None,
)
SSH_AGENT = _option(
    "ssh_agent",
    Annotated[
        bool,
        typer.Option(
            "--ssh-agent",
            help="Sign through the running ssh-agent (SSH_AUTH_SOCK) with the key whose .pub "
            "is beside --key.",
        ),
    ],
    False,
)
SIGN = _option(
    "sign",
    Annotated[
        bool | None,
        typer.Option(
            "--sign/--no-sign",
            envvar="MUTATOR_SIGN",
            show_envvar=True,
            help="Sign (with --key, else ~/.ssh/id_ed25519), or never sign. Default: sign when "
            "--key or --ssh-agent is given, and a vote on a request that was submitted signed.",
        ),
    ],
    None,
)
SIGNING_OPTIONS = (KEY, SSH_AGENT, SIGN)

# The sets of connection options the commands take (docs/cli.md, "Connection options").
TEMPORAL_OPTIONS = (ADDRESS, NAMESPACE, *SECURITY_OPTIONS, DATABASE, TASK_QUEUE_OPTION, AS_JSON)
# The commands that act as a user (submit, batch, approve, reject, cancel) also sign.
SIGNED_OPTIONS = (*TEMPORAL_OPTIONS, *SIGNING_OPTIONS)
# Reads accept the TLS options for symmetry too, and ignore them.
READ_OPTIONS = (READ_ADDRESS, NAMESPACE, *SECURITY_OPTIONS, DATABASE, AS_JSON)
# `mutator dev` takes them only to refuse them: it starts a plain local server.
DEV_OPTIONS = (*SECURITY_OPTIONS, DATABASE, TASK_QUEUE_OPTION, AS_JSON)
SCHEMA_OPTIONS = (DATABASE, AS_JSON)

ConnectedCommand: TypeAlias = Callable[Concatenate[Connection, P], None]


def with_connection_options(
    command: ConnectedCommand[P], options: Sequence[inspect.Parameter]
) -> Callable[..., None]:
    """``command`` as Typer sees it: its own parameters, then ``options``.

    The call gathers the options' values into the `Connection` passed as the command's first
    argument.

    Raises:
        TypeError: The command's first parameter is not a ``Connection``, or an option is not
            a ``Connection`` field or clashes with the command's own parameters.
    """
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    if not own or own[0].annotation is not Connection:
        raise TypeError(f"{command.__name__}: the first parameter must be a Connection")
    own = own[1:]
    names = [option.name for option in options]
    unknown = set(names) - {field.name for field in fields(Connection)}
    clash = set(names) & {param.name for param in own}
    if unknown or clash:
        raise TypeError(f"{command.__name__}: bad connection options {unknown | clash}")

    @functools.wraps(command)
    def call(*args: Any, **kwargs: Any) -> None:
        connection = Connection(**{name: kwargs.pop(name) for name in names})
        command(connection, *args, **kwargs)

    parameters = [*own, *options]
    # Typer reads a command's options from its signature and annotations.
    call.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return call


def connected_command(
    app: typer.Typer, options: Sequence[inspect.Parameter], name: str | None = None
) -> Callable[[ConnectedCommand[P]], ConnectedCommand[P]]:
    """Register the decorated function as the command ``name`` of ``app``, taking ``options``."""

    def register(command: ConnectedCommand[P]) -> ConnectedCommand[P]:
        app.command(name)(with_connection_options(command, options))
        return command

    return register
