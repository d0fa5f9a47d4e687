"""Gmail label ids to the names an admin writes (`only_labelled: CRM`), and which label changes matter.

Messages carry label *ids*: system labels are their own names ("STARRED"), user labels are "Label_12". The names
come from users.labels.list, read once per pull and only when a message carries a user label not seen yet (an
idle mailbox's poll stays one history.list call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

#: Label changes that never change what is logged: reading, Gmail's own sorting, archiving (archived mail is
#: no longer INBOX mail), spam and bin. A change of any other label (a user label, STARRED) hands the message over
#: again so its opt-in/opt-out labels are decided again.
NOISE_LABELS = frozenset({"UNREAD", "IMPORTANT", "INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "CHAT"})


def matters(changed: Iterable[str]) -> bool:
    """Whether a labelAdded/labelRemoved change of these label ids may change what is logged."""
    return any(label not in NOISE_LABELS and not label.startswith("CATEGORY_") for label in changed)


class LabelNames:
    """id -> name for one mailbox's labels; `list_labels` is users.labels.list (called at most once per `reset`)."""

    def __init__(self, list_labels: Callable[[], dict[str, Any]]) -> None:
        self._list = list_labels
        self._names: dict[str, str] = {}
        self._fresh = False

    def reset(self) -> None:
        """A new pull: labels may have been created or renamed since, so an unknown id reads the list again."""
        self._fresh = False

    def names(self, ids: Iterable[str]) -> tuple[str, ...]:
        """The names of these label ids (system labels are their ids; an id Gmail no longer lists is left out)."""
        ids = list(ids)
        if any(i not in self._names and i.startswith("Label_") for i in ids) and not self._fresh:
            answer = self._list()
            self._names = {str(label["id"]): str(label.get("name") or label["id"])
                           for label in answer.get("labels", []) if label.get("id")}
            self._fresh = True
        return tuple(self._names.get(i, i) for i in ids if not i.startswith("Label_") or i in self._names)
