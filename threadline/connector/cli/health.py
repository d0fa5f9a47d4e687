"""`threadline health`: ask the running server whether it is alive (/healthz) or ready (/readyz).

The container's HEALTHCHECK runs it. It only makes one HTTP request to the local server: it never opens the
store or calls a provider, so it is cheap enough to run every few seconds.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from typing import Annotated

import typer

from threadline.config.loading import ConfigError, load_settings

# A server bound to every interface is asked on loopback: the check runs next to it (same container).
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}


def server_url(host: str, port: int, path: str) -> str:
    """The URL of `path` on a server listening on host:port, as seen from the same machine."""
    host = _LOOPBACK.get(host, f"[{host}]" if ":" in host else host)
    return f"http://{host}:{port}{path}"


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """(healthy, what to print): healthy means HTTP 200. Never raises for an unreachable server."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{response.status} {_first_line(response.read())}"
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} {_first_line(exc.read())}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"not reachable ({reason})"


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:200] if text else ""


def health(
    config: Annotated[str | None, typer.Option("--config", "-c", help="Config file, for server.host/port "
                                               "(default: $THREADLINE_CONFIG or ./threadline.yaml)")] = None,
    ready: Annotated[bool, typer.Option("--ready", help="Ask /readyz (store, migrations, providers) "
                                        "instead of /healthz (process alive)")] = False,
    url: Annotated[str | None, typer.Option("--url", help="Ask this URL instead (no config needed)")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer")] = 5.0,
) -> None:
    """Ask the running server's /healthz (or /readyz); exit 0 when it answers 200, else 1 (container HEALTHCHECK)."""
    if url is None:
        url = _url_from_config(config, "/readyz" if ready else "/healthz")
    healthy, said = probe(url, timeout)
    print(f"{url}: {said}", file=sys.stdout if healthy else sys.stderr)
    raise typer.Exit(0 if healthy else 1)


def _url_from_config(config: str | None, path: str) -> str:
    try:
        server = load_settings(config).server
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        raise typer.Exit(2) from None
    if server.port == 0:
        print("server.port is 0 (a free port is picked at start): pass --url", file=sys.stderr)
        raise typer.Exit(2)
    return server_url(server.host, server.port, path)
