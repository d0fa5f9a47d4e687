"""Which handler answers which Gmail path, what it costs and which OAuth scopes allow it.

Scopes come from the official discovery document bundled with google-api-python-client,
so the simulator refuses exactly what Gmail refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient

from threadline.sandbox.gmail import account_api, history_api, messages_api
from threadline.sandbox.gmail.invocation import Invocation
from threadline.sandbox.gmail.quota import COSTS

Handler = Callable[[Invocation], dict[str, Any] | None]
_USERS = r"/gmail/v1/users/(?P<userId>[^/]+)"


@dataclass(frozen=True)
class GmailRoute:
    name: str                               # quota/stats name, e.g. "messages.get"
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    discovery_id: str

    @property
    def cost(self) -> int:
        return COSTS[self.name]

    def scopes(self) -> frozenset[str]:
        return _discovery_scopes().get(self.discovery_id, frozenset())


def _route(name: str, method: str, path: str, handler: Handler, discovery_id: str) -> GmailRoute:
    return GmailRoute(name, method, re.compile(_USERS + path + "$"), handler, "gmail.users." + discovery_id)


ROUTES = (
    _route("getProfile", "GET", "/profile", account_api.get_profile, "getProfile"),
    _route("messages.list", "GET", "/messages", messages_api.list_messages, "messages.list"),
    _route("messages.insert", "POST", "/messages", messages_api.insert_message, "messages.insert"),
    _route("messages.import", "POST", "/messages/import", messages_api.insert_message, "messages.import"),
    _route("messages.send", "POST", "/messages/send", messages_api.send_message, "messages.send"),
    _route("messages.get", "GET", "/messages/(?P<id>[^/]+)", messages_api.get_message, "messages.get"),
    _route("messages.delete", "DELETE", "/messages/(?P<id>[^/]+)", messages_api.delete_message, "messages.delete"),
    _route("messages.modify", "POST", "/messages/(?P<id>[^/]+)/modify", messages_api.modify_message,
           "messages.modify"),
    _route("history.list", "GET", "/history", history_api.list_history, "history.list"),
    _route("labels.list", "GET", "/labels", account_api.list_labels, "labels.list"),
    _route("labels.create", "POST", "/labels", account_api.create_label, "labels.create"),
    _route("threads.get", "GET", "/threads/(?P<id>[^/]+)", account_api.get_thread, "threads.get"),
    _route("watch", "POST", "/watch", account_api.watch, "watch"),
    _route("stop", "POST", "/stop", account_api.stop, "stop"),
)


def find_route(method: str, path: str) -> tuple[GmailRoute, dict[str, str]] | None:
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return None


@cache
def _discovery_scopes() -> dict[str, frozenset[str]]:
    document = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
    scopes: dict[str, frozenset[str]] = {}

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            scopes[method["id"]] = frozenset(method.get("scopes", ()))
        for child in resource.get("resources", {}).values():
            walk(child)

    walk(json.loads(document.read_text()))
    return scopes
