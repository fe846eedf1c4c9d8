"""The ``mailferry`` command: services, the local stack, migrations from the shell.

Passwords are read from a prompt or an environment variable, never from the
command line (where ``ps`` and shell history would keep them).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import httpx

from mailferry.follow import follow, progress_line
from shared.config import Settings


def _state_dir() -> Path:
    return Settings.from_env().state_dir


def cmd_service(args: argparse.Namespace) -> int:
    from shared import json_log
    from shared.service_runtime import stop_on_signals

    settings = Settings.from_env()
    json_log.setup(args.name, settings.log_level)
    stop = stop_on_signals() if args.name != "intake" else threading.Event()
    if args.name == "intake":
        from services.intake.service import serve
    elif args.name == "extractor":
        from services.extractor.service import serve
    elif args.name == "loader":
        from services.loader.service import serve
    else:
        from services.tracker.service import serve
    from shared.adapters.net import tls_context
    from shared.adapters.registry import load_adapters
    from shared.kafka_edge import TopicMismatch

    load_adapters()
    # The CA store, loaded once now rather than by the first session's login (40-80 ms of a first migration).
    tls_context(True, settings.ca_file)
    try:
        serve(settings, stop)
    except TopicMismatch as exc:  # refuse to run on topics whose keys would land on other partitions
        logging.getLogger("mailferry").error("topics differ from the configuration", extra={"error": str(exc)})
        print(f"mailferry {args.name}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from mailferry import stack

    state = _state_dir()
    before = stack.StackInfo.load(state)
    try:
        info = stack.up(state, replicas={"extractor": args.extractors, "loader": args.loaders})
    except stack.StackError as exc:
        print(f"mailferry up: {exc}", file=sys.stderr)
        return 1
    already = before is not None and before.running()
    print(f"{'already running' if already else 'started'}: intake at {info.intake_url}")
    print(f"  API docs  {info.intake_url}/docs   OpenAPI {info.intake_url}/openapi.json")
    print(f"  Kafka     {info.kafka_bootstrap}   Redis {info.redis_url}")
    print(f"  logs      {state / 'logs'}")
    return 0


def cmd_down(_args: argparse.Namespace) -> int:
    from mailferry import stack

    print("stopped" if stack.down(_state_dir()) else "nothing was running")
    return 0


def _api(args: argparse.Namespace) -> str:
    if args.api:
        return str(args.api).rstrip("/")
    from mailferry import stack

    info = stack.StackInfo.load(_state_dir())
    return info.intake_url if info else f"http://127.0.0.1:{os.environ.get('MAILFERRY_INTAKE_PORT', '8080')}"


def _password(side: str, env_name: str | None) -> str:
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise SystemExit(f"environment variable {env_name} is empty or not set")
        return value
    return getpass.getpass(f"{side} password: ")


def endpoint(args: argparse.Namespace, side: str) -> dict[str, object]:
    """One account of ``migrate`` as the API takes it. A system whose server the operator sets (Microsoft 365)
    takes no server; one signed in by the operator's app (``--source-auth app``, its default) no password."""
    from shared.adapters import registry

    type_ = getattr(args, f"{side}_type")
    system = registry.system(type_)
    auth = getattr(args, f"{side}_auth") or system.auth_modes[0]
    if auth not in system.auth_modes:
        raise SystemExit(f"--{side}-auth: {system.label} accounts sign in with {' or '.join(system.auth_modes)}")
    ep: dict[str, object] = {"type": type_, "login": getattr(args, f"{side}_login"), "auth": auth}
    if system.service_address is None:
        host = getattr(args, f"{side}_host")
        if not host and system.needs_host:
            raise SystemExit(f"--{side}-host is needed for {system.label} accounts")
        ep.update(host=host, port=_port(type_, getattr(args, f"{side}_security"), getattr(args, f"{side}_port")),
                  security=getattr(args, f"{side}_security"))
    if registry.needs_password(type_, auth):
        ep["password"] = _password(side, getattr(args, f"{side}_password_env"))
    return ep


def cmd_migrate(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"options": args.options.split(","), "notify_email": args.notify_email}
    for side in ("source", "target"):
        body[side] = endpoint(args, side)
    api = _api(args)
    # An account the operator's app signs in to (Microsoft 365 without a password) is an operator's to name:
    # the operator key comes from the environment, never the command line.
    key = os.environ.get("MAILFERRY_OPERATOR_KEY", "").strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = httpx.post(f"{api}/api/v1/migrations", json=body, headers=headers, timeout=120)
    return _started(api, resp, args.source_login, args.no_follow,
                    "keep it: with the source login it finds this migration again")


def _started(api: str, resp: httpx.Response, login: str, no_follow: bool, keep: str) -> int:
    """The answer to a start: the refusal (exit 2), or the migration ID and ``keep`` (how to find it again),
    then the migration followed to its end unless ``no_follow`` (exit 0 when completed, else 1)."""
    if resp.status_code != 202:
        err = resp.json().get("error", {}) if resp.headers.get("content-type", "").startswith("application/json") \
            else {}
        where = f" ({err['side']})" if err.get("side") else ""
        print(f"refused{where}: {err.get('message', resp.text[:300])}", file=sys.stderr)
        return 2
    mid = resp.json()["id"]
    print(f"migration ID: {mid}   ({keep})")
    if no_follow:
        return 0
    status = follow(api, mid, login)
    return 0 if status.get("state") == "completed" else 1


def cmd_pst_import(args: argparse.Namespace) -> int:
    """Upload a PST file (streamed, never read whole) into a target account and follow the import."""
    target = {"type": args.target_type, "host": args.target_host,
              "port": _port(args.target_type, args.target_security, args.target_port),
              "security": args.target_security, "login": args.target_login,
              "password": _password("target", args.target_password_env)}
    data = {"target": json.dumps(target), "options": json.dumps(args.options.split(","))}
    if args.notify_email:
        data["notify_email"] = args.notify_email
    api = _api(args)
    with open(args.file, "rb") as fh:
        resp = httpx.post(f"{api}/api/v1/pst-migrations", data=data,
                          files={"file": (os.path.basename(args.file), fh, "application/vnd.ms-outlook")},
                          timeout=httpx.Timeout(60, read=3600, write=3600))
    return _started(api, resp, args.target_login, args.no_follow,
                    f"follow it with this ID and the target login {args.target_login}")


def cmd_status(args: argparse.Namespace) -> int:
    resp = httpx.get(f"{_api(args)}/api/v1/migrations/{args.id}", params={"login": args.login}, timeout=30)
    if resp.status_code == 404:
        print("no migration with this ID and login", file=sys.stderr)
        return 1
    print(json.dumps(resp.json(), indent=2) if args.json else progress_line(resp.json()))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from shared.credential_seal import generate_master_key

    print(generate_master_key(args.kid))
    return 0


def cmd_operator_key(args: argparse.Namespace) -> int:
    from shared.operator_keys import new_key

    key, entry = new_key(args.name, args.role)
    print(f"key (give it to the operator's tool; it is not kept anywhere): {key}")
    print(f"entry for MAILFERRY_OPERATOR_KEYS (comma-separated with the others): {entry}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mailferry import demo

    return demo.run(_state_dir(), generated=args.messages)


def _port(type_: str, security: str, given: int | None) -> int:
    """The port given, else the usual one for the account's system and security (the registry's)."""
    from shared.adapters import registry

    return given if given is not None else registry.system(type_).default_ports.get(security, 993)


def build_parser() -> argparse.ArgumentParser:
    from shared.adapters import registry

    kinds = {"source": registry.account_sources(), "target": registry.targets()}
    pst_targets = [t for t in registry.targets() if registry.runnable("pst", t)]
    p = argparse.ArgumentParser(prog="mailferry", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("service", help="run one service in the foreground (what Kubernetes runs)")
    s.add_argument("name", choices=["intake", "extractor", "loader", "tracker"])
    s.set_defaults(func=cmd_service)
    s = sub.add_parser("up", help="start the local stack")
    s.add_argument("--extractors", type=int, default=1)
    s.add_argument("--loaders", type=int, default=1)
    s.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the local stack").set_defaults(func=cmd_down)
    s = sub.add_parser("migrate", help="start a migration through the REST API and follow it")
    for side in ("source", "target"):
        s.add_argument(f"--{side}-type", default="imap", choices=kinds[side])
        s.add_argument(f"--{side}-host", default="",
                       help="the server (none for graph: the operator's setting; none for ews: autodiscover)")
        s.add_argument(f"--{side}-port", type=int, help="default: the usual port for the type and security")
        s.add_argument(f"--{side}-security", default="tls", choices=["tls", "starttls", "none"])
        s.add_argument(f"--{side}-login", required=True, help="graph: the mailbox's e-mail address")
        s.add_argument(f"--{side}-auth", choices=["basic", "oauth2", "app"],
                       help="basic (password), oauth2 (ews: an access token as the password), app (graph: the "
                            "operator's app for the tenant, no password); default: the type's first")
        s.add_argument(f"--{side}-password-env", metavar="VAR",
                       help="read the password from this environment variable instead of a prompt")
    s.add_argument("--options", default="emails", help="comma-separated: emails,contacts,...")
    s.add_argument("--notify-email")
    s.add_argument("--no-follow", action="store_true")
    s.add_argument("--api", help="intake URL (default: the local stack's)")
    s.set_defaults(func=cmd_migrate)
    s = sub.add_parser("pst-import", help="upload a PST file into a target account and follow the import")
    s.add_argument("file")
    s.add_argument("--target-type", default="imap", choices=pst_targets)
    s.add_argument("--target-host", default="")
    s.add_argument("--target-port", type=int, help="default: the usual port for the type and security")
    s.add_argument("--target-security", default="tls", choices=["tls", "starttls", "none"])
    s.add_argument("--target-login", required=True)
    s.add_argument("--target-password-env", metavar="VAR")
    s.add_argument("--options", default="emails")
    s.add_argument("--notify-email")
    s.add_argument("--no-follow", action="store_true")
    s.add_argument("--api")
    s.set_defaults(func=cmd_pst_import)
    s = sub.add_parser("status", help="show a migration's status")
    s.add_argument("id")
    s.add_argument("--login", required=True, help="the source login")
    s.add_argument("--json", action="store_true")
    s.add_argument("--api")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("keygen", help="print a new MAILFERRY_SECRET_KEY value")
    s.add_argument("--kid", default=time.strftime("k%Y%m%d"))
    s.set_defaults(func=cmd_keygen)
    s = sub.add_parser("operator-key", help="print a new operator API key and its MAILFERRY_OPERATOR_KEYS entry")
    s.add_argument("name", help="what the key is called in logs and in MAILFERRY_OPERATOR_KEYS")
    s.add_argument("--role", choices=("operator", "read-only"), default="operator")
    s.set_defaults(func=cmd_operator_key)
    s = sub.add_parser("demo", help="start the stack, two local accounts, and migrate one into the other")
    s.add_argument("--messages", type=int, default=400, help="generated messages besides the real ones")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
