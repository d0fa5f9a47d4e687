"""Structured logs: one JSON event per line (console rendering on a terminal), secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from threadline.config.models import Settings


def secret_values(settings: Settings) -> list[str]:
    """Every SecretStr value in the settings (tokens, passwords), for redaction."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if hasattr(value, "get_secret_value"):
            secret = value.get_secret_value()
            if secret and len(secret) >= 4:
                found.append(secret)
        elif hasattr(value, "__dict__") and hasattr(value, "model_fields"):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(settings)
    return found


class Redactor:
    """A structlog processor that replaces known secret values wherever they appear in an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self.secrets:
            return event
        for key, value in event.items():
            if isinstance(value, str):
                for secret in self.secrets:
                    if secret in value:
                        value = value.replace(secret, "[redacted]")
                event[key] = value
        return event


def configure_logging(secrets: Iterable[str] = (), *, level: str = "INFO", json: bool | None = None) -> None:
    """JSON lines when not on a terminal (containers), readable lines on one; secrets always redacted."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
