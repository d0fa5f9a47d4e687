"""`threadline init --crm X --mailbox Y` as an admin starts: every CRM and mailbox combination gets a commented
starter that loads once its secrets are set, and with `--sandbox URL` one that `threadline check` passes, line
by line, against a running seeded sandbox, unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from tests.fixtures.dovecot import DovecotAccount
from threadline.adapters.gmail import DEFAULT_SCOPES
from threadline.adapters.outlook.auth import DELEGATED_SCOPES
from threadline.config.loading import load_settings
from threadline.connector.cli.main import app
from threadline.connector.cli.sandbox_cli import SEEDED_GMAIL_TOKEN
from threadline.connector.demo.run import REP, seed_every_provider
from threadline.sandbox.server import SandboxServer

COMBINATIONS = [(crm, mailbox) for crm in ("hubspot", "salesforce") for mailbox in ("imap", "gmail", "outlook")]
SECRETS = {"hubspot": ["HUBSPOT_TOKEN"],
           "salesforce": ["SALESFORCE_CONSUMER_KEY", "SALESFORCE_CONSUMER_SECRET", "SALESFORCE_REFRESH_TOKEN"],
           "imap": ["IMAP_PASSWORD"], "gmail": [], "outlook": ["GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET"]}
# Where the admin gets each credential: the file says so next to the key.
WHERE_TO_GET_IT = {"hubspot": ["Settings > Integrations > Private apps", "crm.objects.contacts.write"],
                   "salesforce": ["Setup > App Manager", "consumer key", "refresh token", "JWT bearer"],
                   "imap": ["app password", "smtp_host"],
                   "gmail": ["domain-wide delegation", "Google Cloud console", *DEFAULT_SCOPES],
                   "outlook": ["App registrations", *DELEGATED_SCOPES, "Grant admin consent"]}


def init(tmp_path: Path, *args: str, name: str = "threadline.yaml") -> tuple[Result, Path]:
    path = tmp_path / name
    return CliRunner().invoke(app, ["init", *args, "--path", str(path)], terminal_width=300), path


def check(path: Path, env: dict[str, str] | None = None) -> Result:
    try:
        return CliRunner().invoke(app, ["check", "-c", str(path)], env=env, terminal_width=300)
    finally:
        structlog.reset_defaults()      # `check` pointed logging at the CliRunner's (now closed) stderr


def check_rows(output: str) -> list[tuple[str, str, str]]:
    """(target, item, result) of every row of the check table."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]
    return [(row[0], row[1], row[2]) for row in rows if len(row) >= 3 and row[2] != "result"]


@pytest.mark.parametrize(("crm", "mailbox"), COMBINATIONS)
def test_every_combination_loads_once_its_secrets_are_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          crm: str, mailbox: str) -> None:
    result, path = init(tmp_path, "--crm", crm, "--mailbox", mailbox)
    assert result.exit_code == 0, result.output
    needed = SECRETS[crm] + SECRETS[mailbox]
    assert f"set {', '.join(needed)} in the environment" in result.output
    assert "then run `threadline check" in result.output
    for name in needed:
        monkeypatch.setenv(name, f"value-of-{name.lower()}")
    settings = load_settings(path)
    assert settings.crm.kind == crm and [box.kind for box in settings.mailboxes] == [mailbox]
    text = path.read_text()
    for words in WHERE_TO_GET_IT[crm] + WHERE_TO_GET_IT[mailbox]:
        assert words in text, words
    assert "# ca_file:" in text and "threadline owners" in text


def test_without_flags_it_is_the_old_hubspot_and_imap_starter(tmp_path: Path) -> None:
    result, path = init(tmp_path)
    assert result.exit_code == 0, result.output
    settings = load_settings(path, env={"HUBSPOT_TOKEN": "t", "IMAP_PASSWORD": "p"})
    assert settings.crm.kind == "hubspot" and settings.mailboxes[0].kind == "imap"
    assert settings.store.url == "sqlite:///threadline.db" and settings.server.port == 8080


def test_an_unknown_kind_exits_2_with_the_choices_in_one_line(tmp_path: Path) -> None:
    for args in (["--crm", "pipedrive"], ["--mailbox", "exchange"]):
        result, path = init(tmp_path, *args)
        assert result.exit_code == 2
        assert result.stderr.strip() == "--crm takes hubspot | salesforce and --mailbox imap | gmail | outlook"
        assert not path.exists()


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "threadline.yaml").write_text("mine: true\n")
    refused, path = init(tmp_path, "--crm", "salesforce")
    assert refused.exit_code == 2 and "already exists (use --force to overwrite)" in refused.stderr
    assert path.read_text() == "mine: true\n"
    forced, _ = init(tmp_path, "--crm", "salesforce", "--force")
    assert forced.exit_code == 0, forced.output
    assert "kind: salesforce" in path.read_text()


Seeded = tuple[SandboxServer, dict[str, str]]


@pytest.fixture(scope="module")
def seeded_sandbox() -> Iterator[Seeded]:
    """`threadline sandbox --seed` in-process, over http: the server and what seeding gave the rep."""
    server = SandboxServer(port=0)
    seeded = seed_every_provider(server, gmail_refresh_token=SEEDED_GMAIL_TOKEN)
    yield server.start(), seeded
    server.stop()


@pytest.fixture(scope="module")
def seeded_tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """`threadline sandbox --seed --tls-dir D` in-process: Outlook's sign-in (MSAL) insists on https."""
    server = SandboxServer(port=0, tls_dir=tmp_path_factory.mktemp("init-tls"))
    seeded = seed_every_provider(server, gmail_refresh_token=SEEDED_GMAIL_TOKEN)
    yield server.start(), seeded
    server.stop()


def sandbox_for(mailbox: str, request: pytest.FixtureRequest) -> tuple[dict[str, str], list[str]]:
    """What the sandbox for `mailbox` seeded, and the init flags that point at it."""
    if mailbox == "outlook":
        server, seeded = request.getfixturevalue("seeded_tls_sandbox")
        assert server.tls is not None
        return seeded, ["--sandbox", server.url, "--ca-file", str(server.tls.ca_cert)]
    server, seeded = request.getfixturevalue("seeded_sandbox")
    return seeded, ["--sandbox", server.url]


@pytest.mark.parametrize(("crm", "mailbox"), [(c, m) for c, m in COMBINATIONS if m != "imap"])
def test_a_sandbox_config_passes_check_on_every_line_unchanged(tmp_path: Path, request: pytest.FixtureRequest,
                                                               crm: str, mailbox: str) -> None:
    seeded, flags = sandbox_for(mailbox, request)
    result, path = init(tmp_path, "--crm", crm, "--mailbox", mailbox, *flags)
    assert result.exit_code == 0, result.output
    assert "set " not in result.output          # nothing to set: the sandbox's own credentials are in the file
    written = path.read_text()
    settings = load_settings(path, env={})
    assert settings.mailboxes[0].address == REP and settings.mailboxes[0].owner_id == seeded[f"{crm}_owner_id"]
    checked = check(path)
    rows = check_rows(checked.output)
    assert checked.exit_code == 0, checked.output
    assert {target.split()[0] for target, _, _ in rows} >= {crm, mailbox}, checked.output
    assert [row for row in rows if row[2] != "ok"] == [], checked.output
    assert path.read_text() == written


def test_an_outlook_sandbox_over_http_is_told_to_use_https(tmp_path: Path) -> None:
    result, _ = init(tmp_path, "--mailbox", "outlook", "--sandbox", "http://127.0.0.1:8765")
    assert result.exit_code == 0, result.output
    assert "needs an https authority" in result.output


@pytest.mark.dovecot
def test_a_sandbox_config_with_imap_reads_the_server_from_the_environment(
        tmp_path: Path, seeded_sandbox: Seeded, imap_account: DovecotAccount) -> None:
    result, path = init(tmp_path, "--sandbox", seeded_sandbox[0].url)
    assert result.exit_code == 0, result.output
    assert "the sandbox serves no IMAP" in result.output and "IMAP_HOST" in result.output
    env = {"IMAP_HOST": imap_account.host, "IMAP_PORT": str(imap_account.server.imap_port),
           "IMAP_SECURITY": "none", "IMAP_USERNAME": imap_account.username, "IMAP_PASSWORD": imap_account.password}
    checked = check(path, env)
    rows = check_rows(checked.output)
    assert checked.exit_code == 0, checked.output
    assert {target.split()[0] for target, _, _ in rows} >= {"hubspot", "imap"}, checked.output
    assert [row for row in rows if row[2] != "ok"] == [], checked.output
