"""`threadline auth outlook ADDRESS`: sign a delegated Outlook mailbox in with the device-code flow.

The MSAL cache, with the user's refresh token, goes encrypted into the store, where every
replica finds it. Needs a secret key (exit 2 otherwise); a refused sign-in exits 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from threadline.config.models import OutlookMailbox, Settings
from threadline.connector.cli.consoles import error_console, output_console
from threadline.connector.cli.secrets import ConfigOption, load_config

auth_app = typer.Typer(no_args_is_help=True, help="Sign mailboxes in (tokens are kept encrypted in the store).")
console = output_console()
err = error_console()


@auth_app.command("outlook")
def outlook(address: Annotated[str, typer.Argument(help="The mailbox address, as in the config")],
            config: ConfigOption = None) -> None:
    """Device-code sign-in for a delegated Outlook mailbox; prints where to go and the code to enter."""
    from threadline.adapters.errors import ProviderError

    settings = load_config(config)
    try:
        signed_in = sign_in_outlook(settings, address, lambda text: console.print(text, highlight=False))
    except ProviderError as exc:
        err.print(f"sign-in failed: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"signed in as {signed_in}; the tokens are stored encrypted for {address}", highlight=False)
    if signed_in.lower() != address.lower():
        err.print(f"note: the signed-in account {signed_in} is not {address}; the sync reads {address}",
                  highlight=False)


def sign_in_outlook(settings: Settings, address: str, show: Callable[[str], None]) -> str:
    """Run the device-code flow for `address` and keep its tokens in the store; returns the signed-in user.

    Raises SecretsUnusable (exit 2) without a usable key, click.BadParameter for an unknown or
    app-only mailbox, ProviderError when the identity platform refuses.
    """
    from threadline.connector.wiring.build import delegated_source, outlook_cache_name
    from threadline.connector.wiring.secret_keys import SecretsUnusable, require_keys, secret_store
    from threadline.sync.store.database import Store

    box = _outlook_box(settings, address)
    require_keys(settings, f"signing in {box.address}")
    store = Store(settings.store.url)
    try:
        tokens = secret_store(settings, store)
        assert tokens is not None           # require_keys: a key is configured
        user = delegated_source(settings, box, tokens).device_code_login(show)
        if tokens.get(outlook_cache_name(box.address)) is None:   # the cache logs, not raises, a failed save
            raise SecretsUnusable(f"the tokens of {box.address} could not be stored; see the log")
        return user
    finally:
        store.dispose()


def _outlook_box(settings: Settings, address: str) -> OutlookMailbox:
    for box in settings.mailboxes:
        if isinstance(box, OutlookMailbox) and box.address == address.strip().lower():
            if not box.is_delegated:
                raise typer.BadParameter(f"{box.address} uses app-only access (client_secret); set "
                                         "`delegated: true` on it to sign a user in", param_hint="ADDRESS")
            return box
    raise typer.BadParameter(f"no Outlook mailbox {address} in the config", param_hint="ADDRESS")
