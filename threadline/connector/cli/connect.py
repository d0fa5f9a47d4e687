"""`threadline connect link|disconnect-link|revoke`: connect links for reps who connect their own mailbox.

A link is single use and expires (`connect.link_lifetime`, or --expires); only its digest is stored, so the
URL printed here is the only copy. Needs `connect.gmail` / `connect.outlook`, `server.public_url` and a
secret key (the rep's refresh token is kept encrypted); without one it exits 2 saying what is missing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from threadline.config.models import Settings
from threadline.connector.cli.consoles import error_console, output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

connect_app = typer.Typer(no_args_is_help=True, help="Connect links: each rep connects their own mailbox.")
console = output_console()
err = error_console()
Provider = Annotated[str, typer.Option("--provider", "-p", help="gmail or outlook")]


@connect_app.command("link")
def link(address: Annotated[str, typer.Argument(help="The rep's mailbox address")], provider: Provider,
         expires: Annotated[str | None, typer.Option("--expires", help="How long it works: 7d, 48h (default: "
                                                     "connect.link_lifetime)")] = None,
         alias: Annotated[list[str] | None, typer.Option("--alias", help="Another address the rep may sign in "
                                                         "as (repeatable)")] = None,
         config: ConfigOption = None) -> None:
    """Print a signed, single-use, expiring connect link for ADDRESS. Send it to the rep."""
    print(_make(load_config(config), address, provider, expires, alias or [], "connect"))


@connect_app.command("disconnect-link")
def disconnect_link(address: Annotated[str, typer.Argument(help="A connected mailbox")],
                    config: ConfigOption = None) -> None:
    """Print a single-use link the rep can use to disconnect their own mailbox."""
    print(_make(load_config(config), address, None, None, [], "disconnect"))


@connect_app.command("revoke")
def revoke(address: Annotated[str, typer.Argument(help="A connected mailbox")], config: ConfigOption = None) -> None:
    """Disconnect a rep's mailbox: delete its tokens (revoked at Google; Microsoft has no per-app revocation).
    Its cursor and stored mail decisions stay, so a new link resumes where it stopped."""
    from threadline.connector.wiring.consent import consent_flows, disconnect_mailbox
    from threadline.connector.wiring.secret_keys import SecretsUnusable, no_key_message, secret_store
    from threadline.sync.store.database import Store

    settings = load_config(config)
    store = Store(settings.store.url)
    try:
        tokens = secret_store(settings, store)
        if tokens is None:
            raise SecretsUnusable(no_key_message("disconnecting a mailbox"))
        done = disconnect_mailbox(store, consent_flows(settings, tokens), address.strip().lower(),
                                  "revoked by the admin")
    finally:
        store.dispose()
    if not done:
        err.print(f"{address} is not a mailbox connected through a connect link (threadline mailboxes lists them)",
                  markup=False, highlight=False)
        raise typer.Exit(2)
    console.print(f"{address} is disconnected; its tokens are deleted (cursor kept)", highlight=False)


def _make(settings: Settings, address: str, provider: str | None, expires: str | None, aliases: list[str],
          purpose: str) -> str:
    from threadline.config.models import Duration
    from threadline.connector.wiring.consent import LinkRefused, make_connect_link
    from threadline.connector.wiring.secret_keys import require_keys
    from threadline.sync.store.database import Store

    require_keys(settings, "connect links (the rep's tokens are kept encrypted)")
    lifetime = None
    if expires is not None:
        from pydantic import TypeAdapter, ValidationError
        try:
            lifetime = TypeAdapter(Duration).validate_python(expires)
        except ValidationError:
            raise typer.BadParameter("a duration like 7d, 48h or 30m", param_hint="--expires") from None
    store = Store(settings.store.url)
    try:
        return make_connect_link(settings, store, address, provider, lifetime=lifetime, aliases=aliases,
                                 purpose=purpose)
    except LinkRefused as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        store.dispose()
