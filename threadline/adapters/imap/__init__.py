"""IMAP mailboxes (imapclient): INBOX + Sent by UIDVALIDITY/UID/HIGHESTMODSEQ cursors, IDLE for push.

`ImapMailbox` is the MailboxAdapter; `ImapSession` is the small set of IMAP
operations sync needs; `ImapCursor`/`ImapFolderCursor` are the typed cursors.
Uses only the shared adapter helpers one level up (HTTP, retry, rate limits, records, errors)."""

from threadline.adapters.imap.connection import ImapEndpoint, PasswordLogin, XOAuth2Login
from threadline.adapters.imap.cursor import ImapCursor, ImapFolderCursor
from threadline.adapters.imap.mailbox import ImapMailbox
from threadline.adapters.imap.session import FolderStatus, ImapSession

__all__ = ["FolderStatus", "ImapCursor", "ImapEndpoint", "ImapFolderCursor", "ImapMailbox", "ImapSession",
           "PasswordLogin", "XOAuth2Login"]
