"""What a thread logs does not depend on the order its mail is read in (issue #19, part 2).

A prospect answers the rep's outreach (logged on the prospect), then a colleague of the prospect who is no contact
answers the prospect's reply with the prospect in Cc ("Adding myself here: I run procurement..."): matched by thread,
logged on the prospect too. Gmail's backfill reads newest first, so the colleague's message can be read before the one
that makes the thread known. The same three messages are delivered in every order into a real Gmail, Outlook (sandbox
over HTTP) and IMAP (Dovecot) mailbox, synced after each delivery or all at once (a backfill), and the prospect's
record must end with the same two activities, each once, every time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.engine.world import imap_mailbox_config
from tests.fixtures.dovecot import DovecotAccount
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import sandbox_config
from threadline.connector.demo.world import REP
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import DeferredMailRow, MessageRow

PROSPECT = "pat@buyer.example"
COLLEAGUE = "quinn@buyer.example"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
#: The thread: the rep's outreach (Sent), the prospect's reply, the colleague's reply to it.
NAMES = ("outreach", "reply", "colleague")


def thread(rep: str) -> dict[str, tuple[bytes, str, datetime]]:
    """name -> (RFC 822 bytes, folder, when it was received)."""
    domain = rep.rpartition("@")[2]
    outreach, reply = f"<outreach-1@{domain}>", "<pat-1@buyer.example>"

    def message(sender: str, to: str, subject: str, body: str, msg_id: str, at: datetime,
                refs: tuple[str, ...] = (), cc: str | None = None) -> bytes:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, to, subject
        if cc:
            msg["Cc"] = cc
        msg["Date"], msg["Message-ID"] = format_datetime(at), msg_id
        if refs:
            msg["In-Reply-To"], msg["References"] = refs[-1], " ".join(refs)
        msg.set_content(body)
        return msg.as_bytes()

    at = [T0 + timedelta(hours=h) for h in range(3)]
    return {
        "outreach": (message(rep, PROSPECT, "Pilot for Buyer Co", "Hi Pat, shall we run a pilot?\n",
                             outreach, at[0]), "sent", at[0]),
        "reply": (message(PROSPECT, rep, "Re: Pilot for Buyer Co",
                          "Yes, let's do it. Looping in procurement.\n\nOn Mon, Rep wrote:\n> shall we run a pilot?\n",
                          reply, at[1], (outreach,)), "inbox", at[1]),
        "colleague": (message(COLLEAGUE, rep, "Re: Pilot for Buyer Co",
                              "Adding myself here: I run procurement. Please send the order form.\n\n"
                              "On Tue, Pat wrote:\n> Yes, let's do it.\n",
                              "<quinn-1@buyer.example>", at[2], (outreach, reply), cc=PROSPECT), "inbox", at[2]),
    }


class ThreadWorld:
    """HubSpot with the prospect as the only contact, one mailbox of `kind`, the engine built from its config."""

    def __init__(self, kind: str, sandbox: SandboxServer, tmp: Path, imap: DovecotAccount | None) -> None:
        self.sandbox = sandbox
        owner = sandbox.hubspot.add_owner(REP, first_name="Alex", last_name="Morgan")
        self.prospect = sandbox.hubspot.add_contact(PROSPECT, firstname="Pat", hubspot_owner_id=owner)
        seeded = {"owner_id": owner}
        self.rep = imap.username if imap is not None else REP
        if kind in ("gmail", "imap"):          # (imap: the gmail template's mailbox is replaced below)
            seeded["refresh_token"] = sandbox.gmail.oauth.issue_refresh_token(self.rep)
        elif kind == "outlook":
            sandbox.graph.register_user(self.rep)
        ca = str(sandbox.tls.ca_cert) if sandbox.tls else None
        config: dict[str, Any] = sandbox_config(sandbox.url, sandbox.settings, seeded, "hubspot",
                                                "gmail" if kind == "imap" else kind, ca_file=ca,
                                                store_url=f"sqlite:///{tmp / 'store.db'}")
        if imap is not None:
            config["mailboxes"] = [{**imap_mailbox_config(imap), "owner_id": owner}]
        config["sync"]["internal_domains"] = [self.rep.rpartition("@")[2]]
        self.engine = build_engine(parse_settings(config, tmp / "threadline.yaml", env={}))
        self.deliver: Callable[[bytes, str, datetime], object] = {
            "gmail": lambda raw, folder, at: sandbox.gmail.deliver(
                self.rep, raw, ("SENT",) if folder == "sent" else ("INBOX",), internal_date=at),
            "outlook": lambda raw, folder, at: sandbox.graph.deliver(self.rep, raw, folder, at),
            "imap": lambda raw, folder, at: imap.deliver(raw, "Sent" if folder == "sent" else "INBOX", at),  # type: ignore[union-attr]
        }[kind]

    def sync(self) -> None:
        summary = self.engine.run_once()
        assert not summary.errors, summary.errors

    def logged(self) -> Counter[str]:
        """The prospect's email activities by sender, as HubSpot has them."""
        return Counter(e["properties"]["hs_email_headers"]["from"]["email"]
                       for e in self.sandbox.hubspot.emails_for(self.prospect))

    def close(self) -> None:
        self.engine.close()


ORDERS = list(permutations(NAMES))


@pytest.fixture(params=["gmail", "outlook", "imap"])
def world(request: pytest.FixtureRequest, tls_sandbox: SandboxServer, tmp_path: Path) -> Any:
    imap = request.getfixturevalue("imap_account") if request.param == "imap" else None
    built = ThreadWorld(request.param, tls_sandbox, tmp_path, imap)
    yield built
    built.close()


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
@pytest.mark.parametrize("mode", ["one-by-one", "backfill"])
def test_a_thread_logs_the_same_whatever_order_it_is_read_in(world: ThreadWorld, order: tuple[str, ...],
                                                            mode: str) -> None:
    messages = thread(world.rep)
    for name in order:
        world.deliver(*messages[name])
        if mode == "one-by-one":
            world.sync()
    world.sync()
    world.sync()            # a settled cycle changes nothing
    assert world.logged() == Counter({PROSPECT: 1, COLLEAGUE: 1})
    with world.engine.store.session() as session:
        waiting = session.exec(select(DeferredMailRow)).all()
    assert waiting == [], "the colleague's message no longer waits once its thread is known"


def test_a_stranger_in_a_thread_nobody_known_is_in_stays_skipped_and_waits(world: ThreadWorld) -> None:
    """A stranger answering a stranger: nothing logged, and the message waits (bounded by THREAD_WAIT)."""
    messages = thread(world.rep)
    world.deliver(*messages["colleague"])
    world.sync()
    assert world.logged() == Counter()
    with world.engine.store.session() as session:
        [waiting] = session.exec(select(DeferredMailRow)).all()
    assert waiting.kind == "thread"


def test_a_stranger_decided_again_twice_in_one_pass_keeps_its_record_and_wait(
        tls_sandbox: SandboxServer, tmp_path: Path, imap_account: DovecotAccount) -> None:
    """IMAP (no provider thread ids): a stranger who answered the outreach itself, and the colleague who answered the
    prospect, are both read before the prospect's reply. Logging the reply takes both up; the colleague is then
    logged, which names the thread's root again: the stranger, still matched by nobody, must stay recorded and
    waiting, not be taken a second time and dropped."""
    world = ThreadWorld("imap", tls_sandbox, tmp_path, imap_account)
    try:
        messages = thread(world.rep)
        outreach_id = f"<outreach-1@{world.rep.rpartition('@')[2]}>"
        stranger = EmailMessage()
        stranger["From"], stranger["To"], stranger["Subject"] = "vendor@else.example", world.rep, "Re: Pilot"
        stranger["Date"], stranger["Message-ID"] = format_datetime(T0 + timedelta(minutes=30)), "<v-1@else.example>"
        stranger["In-Reply-To"] = stranger["References"] = outreach_id
        stranger.set_content("Unrelated offer.\n")
        world.deliver(*messages["outreach"])
        world.deliver(stranger.as_bytes(), "inbox", T0 + timedelta(minutes=30))
        world.deliver(*messages["colleague"])
        world.sync()
        world.deliver(*messages["reply"])
        world.sync()
        assert world.logged() == Counter({PROSPECT: 1, COLLEAGUE: 1})
        with world.engine.store.session() as session:
            [row] = session.exec(select(MessageRow).where(MessageRow.from_address == "vendor@else.example")).all()
            [wait] = session.exec(select(DeferredMailRow)).all()
        assert row.decision == "skipped" and wait.provider_id == row.provider_id and wait.kind == "thread"
    finally:
        world.close()
