"""What an admin does when a provider refuses Threadline's credentials (401, a refused token request) or its
permissions (403): which token or secret it was, by config key, where to make a new one, and which scopes or
permissions to grant. Each provider states its own `CredentialHelp` next to its error translation; these two
functions word it the same way everywhere (log, `status`, the `check` table), and `refused` maps a 401 or 403
to the error the engine acts on."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.adapters.errors import AuthExpired, PermanentError, ProviderError


@dataclass(frozen=True)
class CredentialHelp:
    provider: str
    credential: str     # which token or secret, by config key
    renew: str          # where the admin makes a new one
    grants: str         # which scopes or permissions, and where they are granted


def refused(help: CredentialHelp, status: int, detail: str) -> ProviderError | None:
    """A provider's 401 as AuthExpired and its 403 as PermanentError, each saying what to do; None otherwise
    (a throttling 403 is the caller's to tell apart first)."""
    if status == 401:
        return AuthExpired(credentials_refused(help, detail), provider=help.provider, status=status)
    if status == 403:
        return PermanentError(permission_refused(help, detail), provider=help.provider, status=status)
    return None


def credentials_refused(help: CredentialHelp, detail: str) -> str:
    """The message for a 401 or a refused token request: `detail` (the provider's words) and what to do."""
    return (f"{detail} -- {help.provider} refused {help.credential}: it is wrong, expired or revoked; make a "
            f"new one: {help.renew}")


def permission_refused(help: CredentialHelp, detail: str) -> str:
    """The message for a 403 that is not a throttle: `detail` and which scopes or permissions to grant."""
    return f"{detail} -- {help.provider} accepted the credentials but refused the call: grant {help.grants}"
