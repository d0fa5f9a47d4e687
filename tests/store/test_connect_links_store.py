"""Connect links in the store, on SQLite and PostgreSQL: only digests are kept, a link is used once even when
two replicas take the provider's callback at the same moment, and an expired link says so."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from threadline.sync.mailboxes import connect_links as links
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ConnectLinkRow, utcnow


def test_only_digests_are_stored_and_a_link_is_claimed_once_across_replicas(store_url: str) -> None:
    store = Store(store_url)
    with store.session() as session:
        token = links.make_link(session, "Ann@Acme.example", "gmail", timedelta(days=7))
    with store.session() as session:
        [row] = session.exec(select(ConnectLinkRow)).all()
        assert row.id == links.digest(token) and token not in (row.id, row.address, row.aliases)
        assert row.address == "ann@acme.example"
        links.start(session, row.id, "the-state", "the-browser")
    with store.session() as session:
        started = links.link_for_state(session, "the-state")
        assert started.state_digest == links.digest("the-state")
        assert started.browser_digest == links.digest("the-browser")

    # Two replicas (two engines on the same database) race for the callback: exactly one wins.
    replicas = [Store(store_url, migrate=False) for _ in range(8)]
    barrier = threading.Barrier(len(replicas))
    won: list[bool] = []

    def take(replica: Store) -> None:
        barrier.wait()
        with replica.session() as session:
            won.append(links.claim(session, started.id, "connecting"))

    threads = [threading.Thread(target=take, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(won) == [False] * 7 + [True]
    with store.session() as session, pytest.raises(links.LinkProblem, match="already been used"):
        links.usable_link(session, token)
    for replica in replicas:
        replica.dispose()
    store.dispose()


def test_an_expired_link_is_refused_with_the_reason(store_url: str) -> None:
    store = Store(store_url)
    now = utcnow()
    with store.session() as session:
        token = links.make_link(session, "ann@acme.example", "outlook", timedelta(hours=1), now=now)
    with store.session() as session:
        assert links.usable_link(session, token, now=now + timedelta(minutes=59)).provider == "outlook"
        with pytest.raises(links.LinkProblem, match="expired"):
            links.usable_link(session, token, now=now + timedelta(hours=1))
    store.dispose()
