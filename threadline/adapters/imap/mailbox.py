"""ImapMailbox: a rep's IMAP mailbox as a MailboxAdapter (INBOX + Sent, UID-based incremental sync)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import structlog

from threadline.adapters.errors import AuthExpired, NotFound, TransientError
from threadline.adapters.imap.check import run_checks
from threadline.adapters.imap.connection import (
    ConnectionFactory,
    Credentials,
    ImapEndpoint,
    PasswordLogin,
    Security,
    XOAuth2Login,
    ssl_context_for,
)
from threadline.adapters.imap.cursor import ImapCursor
from threadline.adapters.imap.folder_sync import FolderSync
from threadline.adapters.imap.session import ImapSession
from threadline.adapters.observe import observed
from threadline.adapters.records import CheckResult, Folder, MailPage
from threadline.adapters.retry import call_with_retry
from threadline.adapters.sending import SentRef

T = TypeVar("T")
log = structlog.get_logger("threadline.imap")


class ImapMailbox:
    """One rep's mailbox on any IMAP server.

    Reads INBOX and the Sent folder (SPECIAL-USE \\Sent, else a common name, or
    `folders={"sent": ...}`), never changes flags, and keeps one connection open
    between pulls (re-opened after a failure). Network trouble is retried with
    the shared policy; refused credentials raise AuthExpired at once.
    """

    kind = "imap"

    def __init__(
        self,
        *,
        address: str,
        host: str,
        port: int = 993,
        security: Security = "tls",
        username: str | None = None,
        password: str | None = None,
        access_token: Callable[[], str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        folders: Mapping[Folder, str] | None = None,
        backfill_days: int = 30,
        batch_size: int = 200,
        connect: ConnectionFactory | None = None,
        timeout: float = 30.0,
        retry_attempts: int = 6,
        sleep: Callable[[float], None] | None = None,
        today: Callable[[], date] | None = None,
        label_changes: bool = False,
        label_folders: Sequence[str] = (),
    ) -> None:
        self.address = address
        self.credentials = _credentials(username or address, password, access_token)
        context = ssl_context or ssl_context_for(ca_file)
        self._connect = connect or ImapEndpoint(host, port, security, context, timeout).connect
        self._configured_folders = dict(folders or {})
        self._backfill_days = backfill_days
        self._batch_size = batch_size
        self._retry_attempts = retry_attempts
        self._sleep = sleep
        self._today = today or (lambda: datetime.now(UTC).date())
        # Opt-in/opt-out labels are configured: mail whose keywords changed is read again (CONDSTORE servers).
        self._label_changes = label_changes
        # Label names that may be folders (`only_labelled: CRM` with a CRM folder): those the server has are read
        # too, their mail as incoming, labelled with the folder's name.
        self._label_folders = tuple(label_folders)
        self._session: ImapSession | None = None
        self._sent_folder: str | None = None

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[MailPage]:
        """Yield new INBOX then Sent messages since `cursor` (None: the last `backfill_days`).

        Each page's cursor covers both folders and is safe to store once the page
        is processed. A changed UIDVALIDITY resyncs that folder's backfill window
        (pages carry `resync_reason`). May raise TransientError (retries spent),
        AuthExpired or NotFound (a configured folder is missing).
        """
        state = ImapCursor.from_dict(cursor)
        since = self._today() - timedelta(days=self._backfill_days)
        for role, folder in self.folders(state).items():
            sync = FolderSync(self._run, role, folder, since, self._batch_size, self._label_changes)
            for page in sync.pages(state.get(role)):
                state = state.with_folder(role, page.cursor)
                yield MailPage(messages=page.messages, cursor=state.to_dict(), resync_reason=page.resync_reason)
        for folder in self._present_label_folders(state):
            sync = FolderSync(self._run, "inbox", folder, since, self._batch_size, self._label_changes)
            for page in sync.pages(state.label_folders.get(folder)):
                state = state.with_label_folder(folder, page.cursor)
                yield MailPage(messages=page.messages, cursor=state.to_dict(), resync_reason=page.resync_reason)

    def _present_label_folders(self, state: ImapCursor) -> list[str]:
        """The server's folders that a configured label names (case-insensitively), other than INBOX and Sent;
        listed on each pull, so a folder the rep creates later is read from the next pull on."""
        if not self._label_folders:
            return []
        wanted = {name.casefold() for name in self._label_folders}
        synced = {name.casefold() for name in self.folders(state).values()}
        names = self._run("list folders", lambda s: s.folder_names())
        return [name for name in names if name.casefold() in wanted and name.casefold() not in synced]

    def folders(self, known: ImapCursor | None = None) -> dict[Folder, str]:
        """Role -> server folder name; Sent is left out (with a warning) when the server has none.

        Sent comes from configuration, else from an earlier discovery (this adapter's or
        the cursor's), else from LIST, so a routine poll does not list folders again.
        """
        found: dict[Folder, str] = {"inbox": self._configured_folders.get("inbox", "INBOX")}
        remembered = known.sent.folder if known is not None and known.sent is not None else None
        sent = (self._configured_folders.get("sent") or self._sent_folder or remembered
                or self._run("list folders", lambda s: s.sent_folder()))
        if sent:
            found["sent"] = self._sent_folder = sent
        else:
            log.warning("imap.no_sent_folder", mailbox=self.address)
        return found

    def idle_wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds in IMAP IDLE on INBOX; True when new mail arrived."""
        inbox = self._configured_folders.get("inbox", "INBOX")
        return self._run("idle", lambda s: s.idle_wait(inbox, timeout))

    def find_in_sent(self, message_id: str) -> SentRef | None:
        """The copy of our sent mail with `message_id` ("<...>") in the Sent folder, or None.

        This is the look-before-resend check for mail sent over SMTP. Raises NotFound
        when the server has no Sent folder, TransientError/AuthExpired as `pull` does.
        """
        folder = self._require_sent()
        uidvalidity, uids = self._run("find sent", lambda s: s.search_header(folder, "Message-ID", message_id))
        if not uids:
            return None
        return SentRef(message_id=message_id, provider_id=f"{folder}/{uidvalidity}/{uids[0]}")

    def append_sent(self, raw: bytes) -> None:
        """Put a copy of mail we sent over SMTP in the Sent folder (SMTP servers do not). Not idempotent."""
        folder = self._require_sent()
        self._run("append sent", lambda s: s.append(folder, raw))

    def check(self) -> list[CheckResult]:
        """Connect, log in, list folders, report IDLE/CONDSTORE and the Sent folder. Never raises."""
        return run_checks(f"imap {self.address}", self._connect, self.credentials, self._configured_folders)

    def label_names(self) -> set[str]:
        """The folders and the keywords of the synced folders: what `only_labelled`/`never_labelled` may name
        (`threadline check`). A keyword shows once a message in the folder carries it."""
        folders = list(self.folders().values())
        return self._run("label names", lambda s: s.label_names(folders))

    def close(self) -> None:
        """Log out and forget the connection; the next pull reconnects."""
        if self._session is not None:
            self._session.logout()
            self._session = None

    def _require_sent(self) -> str:
        sent = self.folders().get("sent")
        if sent is None:
            raise NotFound(f"imap {self.address}: no Sent folder to keep sent mail in", provider="imap")
        return sent

    def _run(self, what: str, operation: Callable[[ImapSession], T]) -> T:
        """Run one session operation under the shared retry policy, reconnecting after a failure."""
        def attempt() -> T:
            try:
                with observed("imap", self.address):
                    return operation(self._session or self._open())
            except TransientError:
                self.close()
                raise
        return call_with_retry(attempt, attempts=self._retry_attempts, what=f"imap {what}", sleep=self._sleep)

    def _open(self) -> ImapSession:
        self._session = ImapSession.open(self._connect, self.credentials)
        return self._session


def _credentials(username: str, password: str | None, access_token: Callable[[], str] | None) -> Credentials:
    if access_token is not None:
        return XOAuth2Login(username, access_token)
    if password is None:
        raise AuthExpired("imap: no password or access token configured", provider="imap")
    return PasswordLogin(username, password)



