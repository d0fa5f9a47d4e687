"""Run MeltanoLabs' tap-hubspot (PyPI `meltano-tap-hubspot`) against a HubSpot at another base URL.

This file runs inside bench/.peer-venv, not Threadline's venv: it imports only the peer.

The tap has no base-URL setting: every stream's `url_base` property returns a string that begins
with `https://api.hubapi.com` (for contacts, `https://api.hubapi.com/crm/v3`). The only change
made here is to rewrite that prefix to `--base-url`, keeping the tap's own paths, paging, auth,
retries and record output. Only the `contacts` stream is built and synced, with no state (a full
extract, the same job as Threadline's backfill): building every stream would ask the sandbox for the
property lists of objects it does not simulate (calls, deals...). Singer messages go to stdout.

    bench/.peer-venv/bin/python bench/peer_tap_hubspot_launch.py --base-url URL --config config.json
"""

from __future__ import annotations

import argparse
import json
import sys

HUBSPOT = "https://api.hubapi.com"


def rebase(base_url: str) -> None:
    """Point every tap stream class's hardcoded `url_base` at `base_url`."""
    from tap_hubspot import client, streams

    for module in (client, streams):
        for value in vars(module).values():
            original = vars(value).get("url_base") if isinstance(value, type) else None
            if isinstance(original, property) and original.fget is not None:
                value.url_base = property(  # type: ignore[attr-defined]
                    lambda self, get=original.fget: get(self).replace(HUBSPOT, base_url.rstrip("/"), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--config", required=True, help="tap config JSON (access_token)")
    args = parser.parse_args()
    rebase(args.base_url)
    from tap_hubspot.streams import ContactStream
    from tap_hubspot.tap import TapHubspot

    with open(args.config) as handle:
        config = json.load(handle)
    TapHubspot.discover_streams = lambda self: [ContactStream(self)]  # type: ignore[method-assign]
    TapHubspot(config=config, state=None, parse_env_config=False).sync_all()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
