"""The `chorus` command: run the local hub, validate connector files, write schemas, bundle."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .hub import Hub
    from .runtime.local import LocalWiring


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {value!r}")
    return int(value)


def _serve(args: argparse.Namespace) -> int:
    import logging
    import signal

    from .errors import ConfigError
    from .runtime.local import LocalHub
    from .runtime.local_lock import HubAlreadyRunning
    from .runtime.local_supervisor import ChildFailed

    logging.basicConfig(level=logging.WARNING)
    hub = LocalHub(args.config_dir, args.host, args.port, args.state_dir, args.store, args.workers)
    try:
        hub.start()
    except HubAlreadyRunning as exc:
        print(f"chorus serve: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        _print_problems(exc.problems)
        return 1
    except ChildFailed as exc:
        print(f"chorus serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the port is taken, mostly
        print(
            f"chorus serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        hub.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .config.loader import load_directory, read_documents, validate_documents

    docs, settings_doc, problems = read_documents(Path(args.dir))
    valid, _, more = validate_documents(docs, settings_doc)
    problems += more
    if not problems and args.resolve:
        from .config.secret_check import unresolved_secrets

        problems += unresolved_secrets(load_directory(args.dir))
    if problems:
        _print_problems(problems)
        return 1
    resolved = " and their secrets resolve" if args.resolve else ""
    print(f"{len(valid)} connector file(s) in {args.dir} are valid{resolved}")
    return 0


def _print_problems(problems) -> None:
    for file, field, message in problems:
        print(f"{file}: {field}: {message}", file=sys.stderr)
    print(f"{len(problems)} problem(s) found", file=sys.stderr)


def schema_documents() -> dict[str, dict]:
    """File name -> JSON Schema, for every model that crosses a boundary."""
    from .config.models import ConnectorConfig, Settings
    from .schema import AdvocateRecord, Envelope, Interaction, Person, SyncJob

    models: dict[str, type[BaseModel]] = {
        "interaction": Interaction,
        "person": Person,
        "advocate_record": AdvocateRecord,
        "envelope": Envelope,
        "sync_job": SyncJob,
        "connector": ConnectorConfig,
        "settings": Settings,
    }
    return {f"{name}.schema.json": model.model_json_schema() for name, model in models.items()}


def _schema(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, document in schema_documents().items():
        (out / name).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(schema_documents())} schemas to {out}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from .config.loader import write_bundle
    from .errors import ConfigError

    try:
        path = write_bundle(args.config_dir)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return 1
    print(f"bundled {args.config_dir} into {path}")
    return 0


def _package(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .packaging import PackagingError, package

    try:
        result = package(
            args.stage,
            args.out,
            pkg_format=args.pkg_format,
            config_dir=args.config_dir,
            work_dir=args.work_dir,
            allow_env_secrets=args.allow_env_secrets,
        )
    except ConfigError as exc:
        _print_problems(exc.problems)
        return 1
    except PackagingError as exc:
        print(f"chorus package: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"packaged stage {args.stage} ({args.pkg_format}) into {result.out}: deployment.zip "
        f"{result.zip_bytes / 2**20:.1f} MiB, {result.seconds:.0f} s"
    )
    return 0


class NeedsHub(Exception):
    """The command needs a store this machine cannot reach; the message says what to do."""


def state_dir() -> Path:
    import os

    from .runtime.local import DEFAULT_STATE_DIR, STATE_DIR_ENV

    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


@dataclass(frozen=True)
class HubConnection:
    """Where a CLI command finds its Hub: `mode` "running" or "local" with the local hub's
    wiring, or "aws" (the Hub built from the AWS environment, as on Lambda)."""

    mode: str
    wiring: LocalWiring | None = None

    def hub(self) -> Hub:
        if self.wiring is None:
            from .runtime.aws import get_hub

            return get_hub()
        from .runtime.local import build_local_hub

        return build_local_hub(self.wiring)


def connect_to_running_hub() -> HubConnection:
    """Find the local hub's state, or AWS, or say plainly why neither; nothing is written to the
    process environment.

    The mode is "running" (a hub runs on the state directory, CHORUS_STATE_DIR or .chorus),
    "local" (its store is there but no hub runs: the command works on the files, and what it
    queues waits for the next `chorus serve`) or "aws" (AWS_PROFILE, AWS_REGION or
    AWS_DEFAULT_REGION is set); with none of these, NeedsHub."""
    import os

    from .runtime.local import STATE_FILE_NAME, LocalWiring
    from .runtime.local_lock import lock_holder
    from .store.local import STORE_FILE

    directory = state_dir()
    state_file = directory / STATE_FILE_NAME  # the last hub's: kept when it stops
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    config_dir = os.environ.get("CHORUS_CONFIG_DIR") or state.get("config_dir") or "connectors"
    if lock_holder(directory) and state:
        return HubConnection(
            "running", LocalWiring.of(state["config_dir"], directory, state.get("store", "sqlite"))
        )
    if (directory / STORE_FILE).exists():
        return HubConnection("local", LocalWiring.of(config_dir, directory))
    if any(os.environ.get(v) for v in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")):
        return HubConnection("aws")
    raise NeedsHub(
        f"no local hub state in {directory} (start one with `make run`, or set CHORUS_STATE_DIR), "
        "and no AWS environment (AWS_PROFILE or AWS_REGION) to reach a deployed hub"
    )


def _queued_note(mode: str, jobs: int | None) -> None:
    """Say where queued work waits when no hub runs to take it (jobs None: an unknown number)."""
    if mode == "local" and jobs != 0:
        what = "what this queued waits" if jobs is None else f"{jobs} job(s) wait"
        print(f"no hub is running on {state_dir()}: {what} in its queue for `chorus serve`", file=sys.stderr)


def _dlq(args: argparse.Namespace) -> int:
    from .deadletters import list_dead_letters, replay

    connection = connect_to_running_hub()
    hub = connection.hub()
    if args.action == "list":
        letters = list_dead_letters(hub, args.connector, args.limit)
        for d in letters:
            print(
                f"{d.created_at.isoformat()}  {d.stage:6}  {d.connector_id:20}  {d.dead_letter_id}  {d.reason}"
            )
        print(f"{len(letters)} dead letter(s)")
    else:
        result = replay(hub, args.connector, args.limit)
        print(f"replayed {result.replayed}, kept {result.kept} that cannot be replayed")
        _queued_note(connection.mode, result.replayed)
    return 0


def _crm_setup(args: argparse.Namespace) -> int:
    """Needs the connector files and the CRM, not a running hub."""

    import requests

    from .config.loader import load_directory
    from .errors import ChorusError
    from .providers import get_sink

    config_dir = args.config_dir
    connectors = load_directory(config_dir)
    connector = connectors.get(args.connector_id)
    if connector is None or not connector.config.is_sink:
        print(f"no sink connector '{args.connector_id}' in {config_dir}", file=sys.stderr)
        return 1
    try:
        for line in get_sink(connector.provider).setup(connector, requests.Session()):
            print(line)
    except ChorusError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _people(args: argparse.Namespace) -> int:
    """chorus people show|merge|unmerge|decay (local hub, or AWS with credentials)."""
    from .pipeline.merge import CannotUnmerge, UnknownMerge, merge_people, unmerge

    wanted = {"show": 1, "merge": 2, "unmerge": 1, "decay": 0, "export": 1, "erase": 1}[args.action]
    if len(args.ids) != wanted:
        print(f"chorus people {args.action} takes {wanted} id(s)", file=sys.stderr)
        return 2
    connection = connect_to_running_hub()
    hub = connection.hub()
    try:
        if args.action == "show":
            from .admin import get_person

            person = get_person(hub, args.ids[0])
            if person is None:
                print(f"no person {args.ids[0]}", file=sys.stderr)
                return 1
            print(json.dumps(person, indent=2))
        elif args.action == "merge":
            record = merge_people(
                hub, args.ids[0], args.ids[1], reason="merged by an admin (chorus people merge)"
            )
            print(
                f"merge {record.merge_id}: {record.merged_id} into {record.survivor_id}, "
                f"{len(record.moved_interactions)} interaction(s) moved"
            )
            _queued_note(connection.mode, None)
        elif args.action in ("export", "erase"):
            return _privacy(hub, args.action, args.ids[0])
        elif args.action == "unmerge":
            record = unmerge(hub, args.ids[0])
            print(
                f"merge {record.merge_id} undone: {record.merged_id} is separate from {record.survivor_id} again"
            )
            _queued_note(connection.mode, None)
        else:
            from .pipeline.decay import decay_due_people

            outcome = decay_due_people(hub)
            print(
                f"rescored {len(outcome.rescored)} person(s), {outcome.tier_changes} tier change(s), "
                f"{outcome.sync_jobs} sync job(s)"
            )
            _queued_note(connection.mode, outcome.sync_jobs)
    except (UnknownMerge, CannotUnmerge) as exc:
        print(f"chorus people {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _privacy(hub, action: str, person_id: str) -> int:
    """chorus people export|erase PERSON_ID: the same as the admin API's export and DELETE."""
    from dataclasses import asdict

    from .privacy import erase_person, export_person

    if action == "export":
        document = export_person(hub, person_id)
        if document is not None:
            print(json.dumps(document, indent=2))
        found = document is not None
    else:
        report = erase_person(hub, person_id)
        if report is not None:
            counts = {k: v for k, v in asdict(report).items() if k != "person_id"}
            print(f"erased {person_id}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        found = report is not None
    if not found:
        print(f"no person {person_id}", file=sys.stderr)
        return 1
    return 0


def _send(args: argparse.Namespace) -> int:
    """chorus send: sign a body as the connector's vendor would and post it to a hub."""
    import requests

    from .config.loader import load_directory
    from .errors import ChorusError
    from .providers.source import CannotSign
    from .sample_delivery import signed_request

    connector = load_directory(args.config_dir).get(args.connector_id)
    if connector is None or not connector.config.is_source:
        print(f"no source connector '{args.connector_id}' in {args.config_dir}", file=sys.stderr)
        return 1
    body = Path(args.body).read_bytes()
    try:
        request = signed_request(connector, body, args.url)
    except (CannotSign, ChorusError) as exc:  # ChorusError: a secret that does not resolve
        print(f"chorus send: {exc}", file=sys.stderr)
        return 1
    try:
        answer = requests.post(
            request.url,
            data=body,
            headers=request.headers,
            timeout=10,
        )
    except requests.ConnectionError:
        print(f"chorus send: no hub answers at {args.url} (start one with `make run`)", file=sys.stderr)
        return 1
    print(f"HTTP {answer.status_code}  {answer.text.strip()}")
    return 0 if answer.ok else 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chorus-hub")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _poll(args: argparse.Namespace) -> int:
    """chorus poll CONNECTOR_ID [--since]: run one listener now; print what it found and queued."""
    from .pipeline.poll import describe_outcome, listener_of, parse_since, poll_connector

    hub = connect_to_running_hub().hub()
    connector = hub.connectors.get(args.connector_id)
    if connector is None or listener_of(connector) is None:
        print(f"no listener connector '{args.connector_id}'", file=sys.stderr)
        return 1
    try:
        since = parse_since(args.since, hub.clock()) if args.since else None
    except ValueError as exc:
        print(f"chorus poll: --since: {exc}", file=sys.stderr)
        return 2
    outcome = poll_connector(hub, connector, since=since)
    for line in describe_outcome(hub, connector, outcome):
        print(line)
    return 1 if any(f.error for f in outcome.feeds) else 0


def _config_dir_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--config-dir", default=None, help=f"{what} (default $CHORUS_CONFIG_DIR, else connectors)"
    )


def config_dir_default() -> str:
    """The connector folder when no option names one: $CHORUS_CONFIG_DIR (set in the container
    image), else ./connectors. Every command resolves it the same way."""
    import os

    return os.environ.get("CHORUS_CONFIG_DIR") or "connectors"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chorus", description="Chorus Social-CRM hub")
    parser.add_argument("--version", action="version", version=f"chorus {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub locally (embedded store and queues)")
    _config_dir_option(serve, "the connector files")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--state-dir",
        default=None,
        help="where the hub keeps its queues and lock (default $CHORUS_STATE_DIR, else .chorus)",
    )
    serve.add_argument(
        "--store",
        choices=["sqlite", "dynamodb"],
        default="sqlite",
        help="sqlite (default: one file in the state directory) or dynamodb (at AWS_ENDPOINT_URL, or AWS)",
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="worker processes draining the queues (default $CHORUS_WORKERS, else one per core, at most 4)",
    )
    serve.set_defaults(func=_serve)
    validate = sub.add_parser("validate", help="check connector files; exit 1 listing each problem")
    validate.add_argument(
        "dir",
        nargs="?",
        default=None,
        help="folder of connector files (default $CHORUS_CONFIG_DIR, else connectors)",
    )
    validate.add_argument(
        "--resolve", action="store_true", help="also resolve every secret reference and name the ones missing"
    )
    validate.set_defaults(func=_validate)
    schema = sub.add_parser("schema", help="write schemas/*.json from the pydantic models")
    schema.add_argument(
        "--out", default="schemas", help="folder to write the JSON schemas to (default schemas)"
    )
    schema.set_defaults(func=_schema)
    bundle = sub.add_parser("bundle", help="validate connectors/ and bundle them into chalicelib for Lambda")
    _config_dir_option(bundle, "the connector files to bundle")
    bundle.set_defaults(func=_bundle)
    pack = sub.add_parser(
        "package", help="validate, bundle connectors and build the Chalice package + template"
    )
    pack.add_argument("--stage", default="dev", help="Chalice stage to package (default dev)")
    pack.add_argument("--out", default="build/package", help="output folder (default build/package)")
    pack.add_argument(
        "--pkg-format",
        choices=["cloudformation", "terraform"],
        default="cloudformation",
        help="infrastructure template to write (default cloudformation)",
    )
    _config_dir_option(pack, "the connector files to deploy")
    pack.add_argument(
        "--work-dir", default=None, help="project copy + pip cache (default build/.chalice-STAGE)"
    )
    pack.add_argument(
        "--allow-env-secrets",
        action="store_true",
        help="package even when connector files read env: secrets the functions will not have",
    )
    pack.set_defaults(func=_package)
    dlq = sub.add_parser("dlq", help="list or replay dead letters (local hub, or AWS with credentials)")
    dlq.add_argument("action", choices=["list", "replay"], help="list dead letters, or replay them")
    dlq.add_argument("--connector", default=None, help="only this connector's dead letters")
    dlq.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    dlq.set_defaults(func=_dlq)
    from .cli_pulse import add_parser as add_pulse

    add_pulse(sub, connect_to_running_hub)
    people = sub.add_parser("people", help="show a person's score explanation, merge, unmerge, run decay")
    people.add_argument(
        "action",
        choices=["show", "merge", "unmerge", "decay", "export", "erase"],
        help="what to do; the ids it takes follow",
    )
    people.add_argument(
        "ids",
        nargs="*",
        help="show PERSON_ID | merge SURVIVOR_ID MERGED_ID | unmerge MERGE_ID | export PERSON_ID | erase PERSON_ID",
    )
    people.set_defaults(func=_people)
    crm = sub.add_parser(
        "crm", help="CRM set-up: `chorus crm setup ID` creates the custom fields Chorus writes"
    )
    crm.add_argument("action", choices=["setup"], help="setup: create the fields Chorus writes")
    crm.add_argument("connector_id", help="the sink connector, e.g. hubspot")
    _config_dir_option(crm, "where the connector files are")
    crm.set_defaults(func=_crm_setup)
    send = sub.add_parser(
        "send", help="post a body to a hub, signed with the connector's secrets as its vendor signs"
    )
    send.add_argument("connector_id", help="the connector to deliver to, e.g. typeform-nps")
    send.add_argument("body", help="file holding the body, e.g. tests/fixtures/typeform/form_response.json")
    send.add_argument("--url", default="http://127.0.0.1:8000", help="the hub's base URL")
    _config_dir_option(send, "where the connector files are")
    send.set_defaults(func=_send)
    poll = sub.add_parser("poll", help="run one listener now and print what it found (queued for processing)")
    poll.add_argument("connector_id", help="the listener connector to poll, e.g. rss-blogs")
    poll.add_argument("--since", default=None, help="look back to an ISO date or for a duration (2d, 6h)")
    poll.set_defaults(func=_poll)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "state_dir", "unset") is None:
        args.state_dir = state_dir()
    if getattr(args, "config_dir", "unset") is None:
        args.config_dir = config_dir_default()
    if getattr(args, "dir", "unset") is None:
        args.dir = config_dir_default()
    try:
        return args.func(args)
    except NeedsHub as exc:
        print(f"chorus {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `chorus people export ID | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as exc:
        return _plain_failure(args.command, exc)


def _plain_failure(command: str, exc: Exception) -> int:
    """A known failure as one line and exit 1; anything else is a bug and keeps its traceback."""
    from .errors import ConfigError

    if isinstance(exc, ConfigError):
        _print_problems(exc.problems)
        return 1
    module = type(exc).__module__ or ""
    if module.startswith(("botocore", "boto3", "urllib3", "requests")):
        print(f"chorus {command}: cannot reach the store: {exc}", file=sys.stderr)
        return 1
    raise exc


if __name__ == "__main__":
    sys.exit(main())
