"""Which handler answers which Graph v1.0 path, and which permission it needs.

Paths are matched case-insensitively and accept both `mailFolders/inbox` and
`mailFolders('inbox')`, and `delta` as well as `delta()` (what the Kiota SDK sends).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from threadline.sandbox.graph import delta, messages_api, sending_api
from threadline.sandbox.graph.invocation import Handler

_USER = r"^/(?:users/(?P<user>[^/]+)|(?P<me>me))"
_FOLDER = r"/mailFolders(?:/|\(')(?P<folder>[^/')]+)'?\)?"
READ, SEND = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic"}), frozenset({"Mail.Send"})
WRITE = frozenset({"Mail.ReadWrite"})
SETTINGS_READ = frozenset({"MailboxSettings.Read", "MailboxSettings.ReadWrite"})
SETTINGS_WRITE = frozenset({"MailboxSettings.ReadWrite"})


@dataclass(frozen=True)
class GraphRoute:
    name: str                                   # stats name
    method: str
    pattern: re.Pattern[str]
    handler: Handler | None                     # None: answered by the subscriptions store
    permissions: frozenset[str]                 # any one of them is enough


def _route(name: str, method: str, path: str, handler: Handler | None, permissions: frozenset[str],
           user: bool = True) -> GraphRoute:
    return GraphRoute(name, method, re.compile((_USER if user else "^") + path + "$", re.IGNORECASE), handler,
                      permissions)


ROUTES = (
    _route("messages.delta", "GET", _FOLDER + r"/messages/delta(?:\(\))?", delta.messages_delta, READ),
    _route("mailFolders.messages", "GET", _FOLDER + r"/messages", sending_api.list_messages, READ),
    _route("mailFolders.get", "GET", _FOLDER, messages_api.get_folder, READ),
    _route("mailFolders.list", "GET", r"/mailFolders", messages_api.list_folders, READ),
    _route("messages.value", "GET", r"/messages/(?P<id>[^/]+)/\$value", messages_api.get_mime, READ),
    _route("messages.get", "GET", r"/messages/(?P<id>[^/]+)", messages_api.get_message, READ),
    _route("messages.update", "PATCH", r"/messages/(?P<id>[^/]+)", messages_api.update_message, WRITE),
    _route("masterCategories.list", "GET", r"/outlook/masterCategories", messages_api.list_categories,
           SETTINGS_READ),
    _route("masterCategories.create", "POST", r"/outlook/masterCategories", messages_api.create_category,
           SETTINGS_WRITE),
    _route("messages.list", "GET", r"/messages", sending_api.list_messages, READ),
    _route("messages.create", "POST", r"/messages", sending_api.create_draft, WRITE),
    _route("messages.send", "POST", r"/messages/(?P<id>[^/]+)/send", sending_api.send_draft, SEND),
    _route("messages.reply", "POST", r"/messages/(?P<id>[^/]+)/reply", messages_api.reply, SEND),
    _route("sendMail", "POST", r"/sendMail", messages_api.send_mail, SEND),
    _route("subscriptions.create", "POST", r"/subscriptions", None, frozenset(), user=False),
    _route("subscriptions.get", "GET", r"/subscriptions/(?P<id>[^/]+)", None, frozenset(), user=False),
    _route("subscriptions.update", "PATCH", r"/subscriptions/(?P<id>[^/]+)", None, frozenset(), user=False),
    _route("subscriptions.delete", "DELETE", r"/subscriptions/(?P<id>[^/]+)", None, frozenset(), user=False),
)


def find_route(method: str, path: str) -> tuple[GraphRoute, dict[str, str]] | None:
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found:
                return route, {k: v for k, v in found.groupdict().items() if v is not None}
    return None
