"""A rep's own consent to read (and send from) their mailbox: the authorization-code flow with PKCE, per provider.

`ConsentFlow.begin` gives the provider URL to send the rep's browser to and the flow's secret half (PKCE
verifier, nonce) to keep until the rep comes back; `finish` redeems the code with it and says who signed in.
The tokens are kept only after the caller has checked that identity (`Granted.keep`), so a rep who signs in
with the wrong account leaves nothing behind. Implementations: gmail/consent.py, outlook/consent.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class ConsentRefused(Exception):
    """The provider sent the rep back without a grant, or the grant is not enough; `reason` is for the rep."""

    def __init__(self, reason: str, *, error: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error          # the provider's error code (access_denied, invalid_grant), for the log


@dataclass(frozen=True)
class ConsentStart:
    """Where to send the rep, the `state` the provider echoes back, and what to keep (sealed) until then."""

    url: str
    state: str
    flow: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Granted:
    """A redeemed consent: who signed in, what they granted, and how to keep or drop the tokens."""

    signed_in: str
    scopes: tuple[str, ...]
    keep: Callable[[], None] = field(repr=False)      # store the refresh token for the invited mailbox
    discard: Callable[[], None] = field(repr=False)   # revoke at the provider, where it offers that


class ConsentFlow(Protocol):
    """One provider's authorization-code flow for one invited mailbox's tokens."""

    provider: str           # "gmail" | "outlook"
    scopes: tuple[str, ...]

    @property
    def consent_url(self) -> str:
        """Where the rep's browser is sent (its origin goes into the page's CSP form-action)."""
        ...

    def begin(self, address: str) -> ConsentStart: ...

    def finish(self, address: str, flow: Mapping[str, Any], params: Mapping[str, str]) -> Granted:
        """Redeem the code in `params` (the callback's query). Raises ConsentRefused or a ProviderError."""
        ...

    def forget(self, address: str) -> bool:
        """Drop the mailbox's stored tokens, revoking them at the provider where it can; False if none."""
        ...
