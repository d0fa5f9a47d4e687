"""`threadline outbox`: the CRM writes and sends still waiting, in flight or failed; retry or discard them.

A row gives up after `sync.give_up_after` of failed attempts (or at once on a permanent error such as a field
the CRM does not have); this is where an admin sees why and acts. Every retry and discard is audited.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.table import Table

from threadline.connector.cli.consoles import error_console, output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

outbox_app = typer.Typer(help="CRM writes and sends waiting, in flight or failed: list, retry, discard.")
console = output_console()
err = error_console()


def _who() -> str:
    try:
        return f"{getpass.getuser()} (threadline outbox)"
    except (KeyError, OSError):      # no name for this uid (containers)
        return "threadline outbox"


@outbox_app.callback(invoke_without_command=True)
def outbox_list(ctx: typer.Context,
                failed: Annotated[bool, typer.Option("--failed", help="Only rows that gave up")] = False,
                as_json: Annotated[bool, typer.Option("--json", help="A JSON list instead of a table")] = False,
                limit: Annotated[int, typer.Option(help="At most this many rows, oldest first")] = 200,
                config: ConfigOption = None) -> None:
    """List outbox rows not yet done: key, kind, contact, status, attempts, last error, next attempt."""
    if ctx.invoked_subcommand is not None:
        return
    from threadline.sync.outbox.admin import unfinished
    from threadline.sync.store.database import Store

    store = Store(load_config(config).store.url)
    with store.session() as session:
        entries = unfinished(session, failed_only=failed, limit=limit)
    if as_json:
        print(json.dumps([e.as_json() for e in entries], indent=1))
        return
    if not entries:
        console.print("no failed rows" if failed else "the outbox is empty: every write and send is done")
        return
    table = Table(title="outbox", show_lines=False)
    for column in ("key", "kind", "contact", "status", "attempts", "next attempt", "last error"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.key, e.kind, e.contact_id, e.status, str(e.attempts),
                      f"{e.next_attempt_at:%Y-%m-%d %H:%M:%S}" if e.next_attempt_at else "-", e.last_error or "")
    console.print(table)


@outbox_app.command("retry")
def outbox_retry(keys: Annotated[list[str] | None, typer.Argument(help="Keys of failed rows")] = None,
                 all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed row")] = False,
                 config: ConfigOption = None) -> None:
    """Put failed rows back in the queue, due now, with a fresh give-up horizon (audited)."""
    if bool(keys) == all_failed:
        err.print("name the failed rows' keys, or pass --all-failed (not both)")
        raise typer.Exit(2)
    from threadline.sync.outbox.admin import retry_failed
    from threadline.sync.store.database import Store

    store = Store(load_config(config).store.url)
    with store.session() as session:
        retried = retry_failed(session, None if all_failed else keys, _who())
    missing = sorted(set(keys or []) - set(retried))
    console.print(f"retried {len(retried)} row(s)" + (": " + ", ".join(retried) if retried else ""))
    if missing:
        err.print(f"not failed (left alone): {', '.join(missing)}")
        raise typer.Exit(1)


@outbox_app.command("discard")
def outbox_discard(key: Annotated[str, typer.Argument(help="The row's key (see `threadline outbox`)")],
                   reason: Annotated[str, typer.Option(help="Why, for the audit")] = "no reason given",
                   config: ConfigOption = None) -> None:
    """Cancel one pending or failed row for good; it is never performed (audited)."""
    from threadline.sync.outbox.admin import discard
    from threadline.sync.store.database import Store

    store = Store(load_config(config).store.url)
    with store.session() as session:
        refused = discard(session, key, _who(), reason)
    if refused is not None:
        err.print(refused)
        raise typer.Exit(1)
    console.print(f"discarded {key}")
