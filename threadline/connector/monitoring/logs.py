"""Structured logs: one JSON event per line (console rendering on a terminal), secrets redacted."""

from __future__ import annotations

import logging
import os
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
        elif hasattr(value, "__dict__") and hasattr(type(value), "model_fields"):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(settings)
    for source in settings.mailbox_sources:       # their secrets sit among the source's free-form keys
        walk(source.mailbox_for(f"probe@{source.domains[0]}", None))
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


FORMAT_ENV = "THREADLINE_LOG_FORMAT"     # json | console: overrides the terminal check (e.g. json under a TTY)
LEVEL_ENV = "THREADLINE_LOG_LEVEL"       # DEBUG | INFO | WARNING | ERROR


def configure_logging(secrets: Iterable[str] = (), *, level: str = "INFO", json: bool | None = None) -> None:
    """JSON lines when not on a terminal (containers), readable lines on one; secrets always redacted.

    `THREADLINE_LOG_FORMAT` and `THREADLINE_LOG_LEVEL` override the defaults. Libraries that log through the
    standard `logging` module (uvicorn, MSAL, google-auth) go through the same processors, so a container's log
    stays one JSON object per line.
    """
    forced = os.environ.get(FORMAT_ENV, "").strip().lower()
    if json is None and forced in ("json", "console"):
        json = forced == "json"
    as_json = (not sys.stderr.isatty()) if json is None else json
    level = os.environ.get(LEVEL_ENV, level).strip().upper() or level
    numeric = logging.getLevelNamesMapping().get(level, logging.INFO)
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        Redactor(secrets),
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries are chatty at INFO (every HTTP request); their warnings and errors are what an operator needs.
    root.setLevel(max(numeric, logging.WARNING))
