"""Shared fixtures: real servers started once per session (sandbox, Dovecot, PostgreSQL, SMTP)."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.dovecot",
    "tests.fixtures.database",
    "tests.fixtures.smtp",
]
