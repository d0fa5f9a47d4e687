"""Mail after `threadline forget` (issue #19, part 5): the forgotten person's own messages leave nothing in the
store or the CRM, and a contact's logged mail that has them in To or Cc no longer carries their address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.sync.mailboxes.test_thread_order import COLLEAGUE, PROSPECT, ThreadWorld, thread
from threadline.sandbox.server import SandboxServer
from threadline.sync.privacy.forget import forget
from threadline.sync.store.tables import MessageRow


@pytest.fixture
def world(tls_sandbox: SandboxServer, tmp_path: Path) -> Any:
    built = ThreadWorld("gmail", tls_sandbox, tmp_path, None)
    yield built
    built.close()


def test_a_forgotten_persons_mail_is_neither_kept_nor_logged_nor_copied(world: ThreadWorld) -> None:
    forget(world.engine.store, COLLEAGUE, world.engine.policy, crm="hubspot", now=datetime.now(UTC), who="test")
    messages = thread(world.rep)
    for name in ("outreach", "reply", "colleague"):
        world.deliver(*messages[name])
    later = EmailMessage()
    later["From"], later["To"], later["Cc"] = PROSPECT, world.rep, COLLEAGUE.upper()
    later["Subject"], later["Message-ID"] = "Re: Pilot for Buyer Co", "<pat-2@buyer.example>"
    later["Date"] = format_datetime(datetime.now(UTC) - timedelta(hours=1))
    later.set_content("Order form attached.\n")
    world.deliver(later.as_bytes(), "inbox", datetime.now(UTC) - timedelta(hours=1))
    world.sync()
    world.sync()
    assert world.logged() == {PROSPECT: 2}                 # the colleague's own message is not matched by thread
    emails = world.sandbox.hubspot.emails_for(world.prospect)
    assert not any(COLLEAGUE in str(e["properties"]).lower() for e in emails), "their address reached the CRM"
    with world.engine.store.session() as session:
        rows = session.exec(select(MessageRow)).all()
    assert not any(COLLEAGUE in str(r.model_dump()).lower() for r in rows)
    [skipped] = [r for r in rows if r.reason.startswith("from a person forgotten")]
    assert skipped.subject is None and skipped.from_address is None
