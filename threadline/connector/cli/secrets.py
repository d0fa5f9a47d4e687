"""`threadline secrets ...`: make a key, see which keys sealed the stored secrets, rotate to the primary key.

No command ever prints a secret value or a stored key; keys are named by fingerprint.
Key problems exit 2 with what to configure; nothing is half-rotated (one transaction).
"""

from __future__ import annotations

from typing import Annotated

import typer

from threadline.config.loading import ConfigError, load_settings
from threadline.config.models import Settings
from threadline.connector.cli.consoles import error_console, output_console

secrets_app = typer.Typer(no_args_is_help=True, help="Tokens kept encrypted in the store: keys and rotation.")
console = output_console()
err = error_console()
KEY_ENV = "THREADLINE_SECRET_KEY"     # connector.secret_keys.KEY_ENV; not imported here: the CLI starts faster

ConfigOption = Annotated[
    str | None, typer.Option("--config", "-c", help="Config file (default: $THREADLINE_CONFIG or ./threadline.yaml)")
]


def load_config(config: str | None) -> Settings:
    """The settings, or exit 2 with the config errors (file, key path, expectation)."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        err.print(exc.render(), markup=False, highlight=False)
        raise typer.Exit(2) from None


@secrets_app.command("new-key")
def new_key_command() -> None:
    """Print a fresh random key (for THREADLINE_SECRET_KEY or a line of store.secret_key_file)."""
    from threadline.sync.store.sealed import fingerprint, new_key

    key = new_key()
    print(key)
    err.print(f"fingerprint {fingerprint(key)}; put it first in {KEY_ENV} (comma-separated) or in "
              "store.secret_key_file, then run `threadline secrets rotate`", highlight=False)


@secrets_app.command("status")
def status(config: ConfigOption = None) -> None:
    """How many secrets the store holds, under which key fingerprints (never values)."""
    from threadline.connector.wiring.secret_keys import load_keys
    from threadline.sync.store.database import Store
    from threadline.sync.store.secret_store import counts_by_key

    settings = load_config(config)
    keys = load_keys(settings)
    store = Store(settings.store.url)
    try:
        counts = counts_by_key(store)
    finally:
        store.dispose()
    configured = keys.fingerprints if keys else []
    console.print(f"{sum(counts.values())} secrets in the store", highlight=False)
    for key_id in [*configured, *sorted(set(counts) - set(configured))]:
        role = ("primary" if key_id == configured[0] else "configured") if key_id in configured else "NOT configured"
        console.print(f"  key {key_id} ({role}): {counts.get(key_id, 0)}", highlight=False)
    if keys is None:
        console.print(f"no key configured: set {KEY_ENV} or store.secret_key_file "
                      "(make one with `threadline secrets new-key`)", highlight=False)


@secrets_app.command("rotate")
def rotate(config: ConfigOption = None) -> None:
    """Re-encrypt every stored secret under the primary (first) key, in one transaction. Idempotent.

    Afterwards every other key can be removed from the configuration.
    """
    from threadline.connector.wiring.secret_keys import require_keys, wrong_key
    from threadline.sync.store.database import Store
    from threadline.sync.store.sealed import WrongKey
    from threadline.sync.store.secret_store import SecretStore

    settings = load_config(config)
    keys = require_keys(settings, "`threadline secrets rotate`")
    store = Store(settings.store.url)
    try:
        secrets = SecretStore(store, keys)
        changed = secrets.rotate()
        total = sum(secrets.status().values())
    except WrongKey as exc:
        raise wrong_key(exc) from None
    finally:
        store.dispose()
    others = [f for f in keys.fingerprints if f != keys.primary]
    console.print(f"re-encrypted {changed} of {total} secrets under key {keys.primary}", highlight=False)
    if others:
        console.print(f"no secret needs key {', '.join(others)} any more: it can be removed", highlight=False)
