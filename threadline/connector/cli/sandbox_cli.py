"""`threadline sandbox`: serve the simulated providers; `threadline sandbox seed`: add an admin's own owners,
contacts and mail to a running sandbox (POST /_sandbox/seed) from a YAML or JSON file or a few flags."""

from __future__ import annotations

import json
import ssl
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import yaml

from threadline.connector.cli.consoles import output_console

SEEDED_GMAIL_TOKEN = "1//sandbox-seeded-demo-rep"
DEFAULT_URL = "http://127.0.0.1:8765"
CRMS = ("hubspot", "salesforce")

sandbox_app = typer.Typer()     # its help is the callback's docstring
console = output_console()


@sandbox_app.callback(invoke_without_command=True)
def sandbox(ctx: typer.Context,
            port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one)")] = 8765,
            tls_dir: Annotated[Path | None, typer.Option(help="Serve https with a test CA written here")] = None,
            seed: Annotated[bool, typer.Option(help="Load the demo team into every provider: contacts and the "
                                                   "rep in HubSpot and Salesforce, mail in Gmail and Outlook")] = False
            ) -> None:
    """Serve simulated HubSpot, Salesforce, Gmail and Microsoft Graph on one port under their real paths.

    `threadline sandbox seed FILE` adds your own owners, contacts and mail to the running sandbox."""
    if ctx.invoked_subcommand is not None:
        return
    from threadline.connector.demo.run import print_sandbox_credentials, seed_every_provider
    from threadline.sandbox.server import SandboxServer

    server = SandboxServer(port=port, tls_dir=tls_dir, log_level="info")
    # A fixed token: a config written against `sandbox --seed` keeps working across restarts.
    seeded = seed_every_provider(server, gmail_refresh_token=SEEDED_GMAIL_TOKEN) if seed else None
    server.start()          # listening before the banner: whoever waits for the banner can connect at once
    print_sandbox_credentials(console, server, seeded)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@sandbox_app.command("seed")
def seed_command(
    file: Annotated[Path | None, typer.Argument(help="YAML or JSON seed file: sections hubspot, salesforce, gmail, "
                                                "graph (see config/sandbox-seed.example.yaml)")] = None,
    url: Annotated[str, typer.Option(help="The running sandbox")] = DEFAULT_URL,
    ca_file: Annotated[Path | None, typer.Option(help="CA to trust for an https sandbox (its --tls-dir's "
                                                 "ca.pem)")] = None,
    contact: Annotated[list[str] | None, typer.Option(help="Add a contact with this address (repeatable)")] = None,
    crm: Annotated[str, typer.Option(help="Where --contact goes: hubspot | salesforce | all")] = "all",
) -> None:
    """Add owners, users, contacts, fields and mail to the running sandbox; print what was created.

    Prints one line per provider with the new ids (and a refresh token per Gmail mailbox); exits 2 with one line
    saying why when the sandbox cannot be reached or refuses the seed, and then nothing is seeded."""
    if crm not in (*CRMS, "all"):
        _fail(f"--crm takes {' | '.join(CRMS)} | all, not {crm!r}")
    body = read_seed_file(file) if file is not None else {}
    add_contacts(body, contact or [], CRMS if crm == "all" else (crm,))
    if not body:
        _fail("nothing to seed: give a seed FILE or --contact EMAIL")
    for line in seeded_lines(post_seed(url, body, ca_file)):
        typer.echo(line)


def read_seed_file(path: Path) -> dict[str, Any]:
    """The seed body in `path` (YAML, of which JSON is a part); exits 2 with one line if it cannot be read."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    except yaml.YAMLError as exc:
        _fail(f"{path} is not valid YAML or JSON: {' '.join(str(exc).split())}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        _fail(f"{path}: the seed is a mapping of sections (hubspot, salesforce, gmail, graph)")
    return data


def add_contacts(body: dict[str, Any], emails: list[str], crms: tuple[str, ...]) -> None:
    """Each address as a contact in each CRM section of `body` (created if missing)."""
    for crm in crms if emails else ():
        section = body[crm] = body.get(crm) or {}
        contacts = section.setdefault("contacts", []) if isinstance(section, dict) else None
        if isinstance(contacts, list):      # anything else: the sandbox names the problem
            contacts.extend({"email": email} for email in emails)


def post_seed(url: str, body: dict[str, Any], ca_file: Path | None) -> dict[str, Any]:
    """POST the body to the sandbox's /_sandbox/seed; what it created, or exit 2 with one line."""
    endpoint = url.rstrip("/") + "/_sandbox/seed"
    try:
        content = json.dumps(body, default=_json_value).encode()
    except (TypeError, ValueError) as exc:
        _fail(f"the seed cannot be sent as JSON: {exc}")
    try:
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    except (OSError, ssl.SSLError) as exc:
        _fail(f"cannot use --ca-file {ca_file}: {getattr(exc, 'strerror', None) or exc}")
    try:
        answer = httpx.post(endpoint, content=content, headers={"Content-Type": "application/json"},
                            verify=verify, timeout=30)
    except httpx.HTTPError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            _fail(f"cannot verify the certificate of {url}: pass --ca-file (ca.pem in the sandbox's --tls-dir)")
        _fail(f"no sandbox answers at {url} ({exc or type(exc).__name__}); start it with `threadline sandbox`")
    try:
        said = answer.json()
        if answer.status_code == 200 and isinstance(said, dict):
            return said
        problems = [str(p) for p in said["problems"]]
    except (ValueError, KeyError, TypeError):
        _fail(f"{endpoint} answered {answer.status_code}: is {url} a Threadline sandbox?")
    _fail(f"the sandbox refused the seed, nothing was seeded: {'; '.join(problems)}")


def seeded_lines(created: dict[str, Any]) -> list[str]:
    """One line per provider: `hubspot: owners sam@x.example=90001; contacts ann@y.example=1002, ...`."""
    lines = []
    for provider, sections in created.items():
        parts = [f"{kind.replace('_', ' ')} {', '.join(_labels(items))}" for kind, items in sections.items() if items]
        lines.append(f"{provider}: {'; '.join(parts) or 'nothing'}")
    return lines


def _labels(items: list[dict[str, str]] | dict[str, str]) -> list[str]:
    if isinstance(items, dict):                      # refresh tokens: address -> token
        return [f"{address}={token}" for address, token in items.items()]
    return [f"{item['object']}.{item['name']}" if "object" in item else
            f"{item.get('email') or item.get('address') or item.get('mailbox')}={item['id']}" for item in items]


def _json_value(value: Any) -> str:
    """YAML reads an unquoted date as a date: send it as RFC 3339 text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} in a seed")


def _fail(message: str) -> NoReturn:
    typer.echo(f"threadline: {message}", err=True)
    raise typer.Exit(2)
