"""Typed IMAP cursors: per folder (UIDVALIDITY, last UID, HIGHESTMODSEQ) and per mailbox.

The engine stores the mailbox cursor as a plain dict (`to_dict`/`from_dict`);
only this package reads it.
"""

from __future__ import annotations

from typing import Any

from threadline.adapters.records import Folder, Record


class ImapFolderCursor(Record):
    """Where one folder's sync stands.

    `last_uid` is the highest UID already handed to the engine (or known to be
    older than the backfill window); UIDs mean nothing once `uidvalidity` changes.
    `highest_modseq` is the folder's CONDSTORE HIGHESTMODSEQ when the server offers it.
    """

    folder: str                 # the server's folder name, e.g. "INBOX", "Sent Items"
    uidvalidity: int
    last_uid: int
    highest_modseq: int | None = None


class ImapCursor(Record):
    """The whole mailbox: one folder cursor per role; None for a folder never synced. `label_folders`: the
    folders read because an opt-in/opt-out label names them, by folder name."""

    inbox: ImapFolderCursor | None = None
    sent: ImapFolderCursor | None = None
    label_folders: dict[str, ImapFolderCursor] = {}

    def with_label_folder(self, folder: str, cursor: ImapFolderCursor) -> ImapCursor:
        return self.model_copy(update={"label_folders": {**self.label_folders, folder: cursor}})

    def get(self, role: Folder) -> ImapFolderCursor | None:
        return self.inbox if role == "inbox" else self.sent

    def with_folder(self, role: Folder, cursor: ImapFolderCursor) -> ImapCursor:
        return self.model_copy(update={role: cursor})

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if not self.label_folders:
            del data["label_folders"]        # cursors of mailboxes without label folders stay as they were
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ImapCursor:
        return cls.model_validate(data or {})
