"""`threadline init`: a commented starter threadline.yaml for one CRM and one mailbox kind, for the real
providers (every secret a ${VAR}) or pointing at a running `threadline sandbox --seed`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.config.starter import (
    CRMS,
    MAILBOXES,
    environment_variables,
    files_to_provide,
    production_config,
    render_starter,
)
from threadline.connector.cli.consoles import error_console, output_console

console = output_console()
err = error_console()


def init_command(
        crm: Annotated[str, typer.Option(help="The CRM: hubspot | salesforce")] = "hubspot",
        mailbox: Annotated[str, typer.Option(help="The reps' mailboxes: imap | gmail | outlook")] = "imap",
        sandbox: Annotated[str | None, typer.Option(metavar="URL", help="Point at a running `threadline sandbox "
                                                    "--seed` on URL, with its credentials")] = None,
        ca_file: Annotated[Path | None, typer.Option(help="CA bundle the CRM and an HTTPS mailbox trust (the "
                                                     "sandbox's --tls-dir ca.pem, a TLS-inspecting proxy's)")] = None,
        path: Annotated[Path, typer.Option(help="Where to write the starter config")] = Path("threadline.yaml"),
        force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False) -> None:
    """Write a commented starter threadline.yaml for one CRM and one mailbox kind.

    Every secret is a ${VAR} (printed afterwards), or with --sandbox the sandbox's own credentials. Exits 2,
    writing nothing, on an unknown kind or an existing file without --force."""
    problem = _refusal(crm, mailbox, sandbox, path, force)
    if problem:
        err.print(problem, markup=False, highlight=False)
        raise typer.Exit(2)
    trust = str(ca_file.resolve()) if ca_file else None
    url = sandbox.rstrip("/") if sandbox else None
    config = _sandbox_config(url, crm, mailbox, trust) if url else production_config(crm, mailbox, trust)
    path.write_text(_render(config, url), encoding="utf-8")
    console.print(f"wrote {path}: {crm} + {mailbox}" + (f", pointing at the sandbox on {url}" if url else ""),
                  markup=False, highlight=False)
    edits = _sandbox_notes(url, mailbox, trust) if url else [_production_edits(mailbox)]
    for line in [*edits, *_next_steps(config, path)]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _refusal(crm: str, mailbox: str, sandbox: str | None, path: Path, force: bool) -> str | None:
    """Why init must not write, in one line, or None."""
    if crm not in CRMS or mailbox not in MAILBOXES:
        return f"--crm takes {' | '.join(CRMS)} and --mailbox {' | '.join(MAILBOXES)}"
    if sandbox is not None and not sandbox.startswith(("http://", "https://")):
        return f"--sandbox takes the sandbox's URL, like http://127.0.0.1:8765 (got {sandbox!r})"
    if path.exists() and not force:
        return f"{path} already exists (use --force to overwrite)"
    return None


def _sandbox_config(url: str, crm: str, mailbox: str, ca_file: str | None) -> dict[str, Any]:
    from threadline.connector.cli.sandbox_cli import SEEDED_GMAIL_TOKEN
    from threadline.connector.demo.run import sandbox_config, seeded_by_sandbox_command
    from threadline.sandbox.settings import SandboxSettings

    seeded = seeded_by_sandbox_command(crm, gmail_refresh_token=SEEDED_GMAIL_TOKEN)
    return sandbox_config(url, SandboxSettings(), seeded, crm, mailbox, ca_file=ca_file)


def _render(config: dict[str, Any], sandbox_url: str | None) -> str:
    # The scopes the adapters ask for, so the comments name exactly what to grant.
    from threadline.adapters.gmail import DEFAULT_SCOPES
    from threadline.adapters.outlook.auth import DELEGATED_SCOPES

    return render_starter(config, gmail_scopes=DEFAULT_SCOPES, graph_permissions=DELEGATED_SCOPES,
                          sandbox_url=sandbox_url)


def _production_edits(mailbox: str) -> str:
    where = "the rep's address, sync.internal_domains" + (", the IMAP host and username" if mailbox == "imap" else "")
    return f"edit the example.com values ({where}) and set owner_id (`threadline owners` lists the ids)"


def _sandbox_notes(url: str, mailbox: str, ca_file: str | None) -> list[str]:
    notes = []
    if mailbox == "imap":
        notes.append("note: the sandbox serves no IMAP; the mailbox reads IMAP_HOST, IMAP_PORT (default 993), "
                     "IMAP_SECURITY (default tls), IMAP_USERNAME and IMAP_PASSWORD from the environment: point "
                     "them at an IMAP server")
    if url.startswith("https://") and ca_file is None:
        notes.append("note: the sandbox serves https: pass --ca-file with the ca.pem under its --tls-dir")
    if url.startswith("http://") and mailbox == "outlook":
        notes.append("note: Outlook's sign-in (MSAL) needs an https authority: start the sandbox with --tls-dir "
                     "DIR and write the config again with an https URL and --ca-file DIR/ca.pem")
    return notes


def _next_steps(config: dict[str, Any], path: Path) -> list[str]:
    needed, defaulted = environment_variables(config)
    lines = []
    if needed:
        lines.append(f"set {', '.join(needed)} in the environment (or NAME_FILE: a file holding the value)")
    if defaulted:
        lines.append(f"optionally set {', '.join(defaulted)} (defaults in the file)")
    lines += [f"provide {file} ({key})" for key, file in files_to_provide(config)]
    check = "threadline check" if path == Path("threadline.yaml") else f"threadline check -c {path}"
    lines.append(f"then run `{check}`")
    return lines
