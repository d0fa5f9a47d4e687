"""The Outlook mailbox cursor: one delta position per folder (Inbox, Sent Items)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from threadline.adapters.records import Folder


class FolderCursor(BaseModel):
    """Where one folder's delta sync stands.

    `next_link` is set mid-round (resume from it after a crash); `delta_link` once a
    round finished (the next incremental call). Neither: the folder was never synced.
    `resync_reason` is carried through a resync so every page of it is marked.
    """

    model_config = ConfigDict(frozen=True)

    delta_link: str | None = None
    next_link: str | None = None
    resync_reason: str | None = None


class GraphCursor(BaseModel):
    """Per-folder delta positions for one mailbox."""

    model_config = ConfigDict(frozen=True)

    folders: dict[Folder, FolderCursor] = {}

    def of(self, folder: Folder) -> FolderCursor:
        return self.folders.get(folder) or FolderCursor()

    def with_folder(self, folder: Folder, state: FolderCursor) -> GraphCursor:
        return GraphCursor(folders={**self.folders, folder: state})

    def dump(self) -> dict[str, Any]:
        return self.model_dump()
