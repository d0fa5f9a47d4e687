"""`threadline check` for an IMAP mailbox: reach, login, capabilities, folders."""

from __future__ import annotations

from collections.abc import Mapping

from threadline.adapters.errors import ProviderError
from threadline.adapters.imap.connection import ConnectionFactory, Credentials
from threadline.adapters.imap.session import ImapSession
from threadline.adapters.records import CheckResult, Folder

# Not required, but they decide how cheap syncing is: say so in the check output.
USEFUL_CAPABILITIES = ("IDLE", "CONDSTORE")


def run_checks(target: str, connect: ConnectionFactory, credentials: Credentials,
               folders: Mapping[Folder, str]) -> list[CheckResult]:
    """One CheckResult per item; a failure becomes an ok=False line, never an exception."""
    try:
        session = ImapSession.open(connect, credentials)
    except ProviderError as exc:
        return [CheckResult(target=target, item="login", ok=False, detail=f"{exc.kind}: {exc}")]
    except Exception as exc:  # check must report, not crash, whatever the network does
        return [CheckResult(target=target, item="login", ok=False, detail=type(exc).__name__)]
    try:
        return [CheckResult(target=target, item="login", ok=True, detail=credentials.username),
                *_capabilities(target, session), *_folders(target, session, folders)]
    except ProviderError as exc:
        return [CheckResult(target=target, item="folders", ok=False, detail=f"{exc.kind}: {exc}")]
    finally:
        session.logout()


def _capabilities(target: str, session: ImapSession) -> list[CheckResult]:
    have = session.capabilities()
    return [CheckResult(target=target, item=f"capability {name}", ok=name in have,
                        detail="supported" if name in have else "not offered (polling instead)")
            for name in USEFUL_CAPABILITIES]


def _folders(target: str, session: ImapSession, folders: Mapping[Folder, str]) -> list[CheckResult]:
    results = []
    for role, name in (("inbox", folders.get("inbox", "INBOX")), ("sent", folders.get("sent"))):
        if name is None and role == "sent":
            name = session.sent_folder()
        if name is None:
            results.append(CheckResult(target=target, item="folder sent", ok=False,
                                       detail="no \\Sent folder and none of the common Sent names"))
            continue
        try:
            session.status(name)
            results.append(CheckResult(target=target, item=f"folder {role}", ok=True, detail=name))
        except ProviderError as exc:
            results.append(CheckResult(target=target, item=f"folder {role}", ok=False, detail=f"{name}: {exc}"))
    return results
