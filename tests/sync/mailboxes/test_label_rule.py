"""`sync.only_labelled` / `never_labelled`: how a message's labels decide, and how the settings reach sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from threadline.adapters.records import RawMessage
from threadline.config.loading import ConfigError, parse_settings
from threadline.connector.wiring.build import label_rule
from threadline.sync.mail.matching import NO_CONTACT, Decision
from threadline.sync.mailboxes.labels import LabelRule, apply, reconsider
from threadline.sync.store.database import Store
from threadline.sync.store.tables import DeferredMailRow, MessageRow

LOG = Decision(action="log", reason="matched by address", contact_ids=("c1",))


def raw(*labels: str) -> RawMessage:
    return RawMessage(provider_id="m1", folder="inbox", raw=b"", labels=labels)


def test_an_opt_out_label_wins_over_an_opt_in_label_and_names_match_case_insensitively() -> None:
    rule = LabelRule(only=("CRM", "Deals"), never=("Private",))
    assert rule.blocks(("crm",)) is None and rule.blocks(("INBOX", "DEALS")) is None
    assert rule.blocks(("CRM", "private")) == "label: labelled Private"
    assert rule.blocks(("INBOX",)) == "label: not labelled CRM or Deals"
    assert rule.opted_out(("PRIVATE",)) == "Private" and rule.opted_out(("CRM",)) is None


def test_labels_only_ever_turn_a_log_into_a_skip() -> None:
    rule = LabelRule(only=("CRM",))
    skipped = apply(rule, LOG, raw())
    assert (skipped.action, skipped.reason, skipped.contact_ids) == ("skip", "label: not labelled CRM", ())
    assert apply(rule, LOG, raw("CRM")) is LOG
    bounce = Decision(action="skip", reason="bounce")
    assert apply(rule, bounce, raw()) is bounce                  # other skips keep their reason
    # Mail from strangers may be kept to be decided again later (deferred.py): not when the labels keep it out.
    stranger = Decision(action="skip", reason=NO_CONTACT)
    assert apply(rule, stranger, raw()).reason == "label: not labelled CRM"
    assert apply(rule, stranger, raw("CRM")) is stranger
    assert apply(LabelRule(never=("Private",)), stranger, raw("Private")).reason == "label: labelled Private"
    assert apply(None, LOG, raw()) is LOG and apply(LabelRule(), LOG, raw()) is LOG
    # Mail kept to be decided again comes back without its labels: it passed them when first read.
    assert apply(rule, LOG, RawMessage(provider_id="m1", folder="inbox", raw=b"")) is LOG


@pytest.mark.parametrize(("decision", "reason"), [("deferred", "no known contact yet"),   # the mirror was behind
                                                  ("skipped", NO_CONTACT)])                # a stranger in a thread
def test_mail_kept_to_be_decided_again_and_then_opted_out_is_no_longer_kept(tmp_path: Path, decision: str,
                                                                             reason: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session() as session:
        session.add(MessageRow(mailbox="rep@x.example", provider_id="m1", folder="inbox", classification="reply",
                               decision=decision, reason=reason))
        session.add(DeferredMailRow(mailbox="rep@x.example", provider_id="m1", folder="inbox", raw=b"x"))
    with store.session() as session:
        done = reconsider(session, "rep@x.example", raw("private"), LabelRule(never=("Private",)),
                          lambda: pytest.fail("an opted-out message is not ingested again"))
    assert done == "skipped"
    with store.session() as session:
        row = session.exec(select(MessageRow)).one()
        assert (row.decision, row.reason) == ("skipped", "label: labelled Private")
        assert session.exec(select(DeferredMailRow)).all() == []


def settings(tmp_path: Path, sync: dict[str, Any], **mailbox: Any) -> Any:
    box = {"kind": "imap", "address": "rep@northwind.example", "host": "imap.northwind.example",
           "username": "rep", "password": "secret", **mailbox}
    return parse_settings({"store": {"url": "sqlite://"}, "crm": {"kind": "hubspot", "token": "t"},
                           "mailboxes": [box], "sync": sync}, tmp_path / "threadline.yaml", env={})


def test_one_name_or_a_list_globally_and_a_mailbox_setting_replaces_the_global_one(tmp_path: Path) -> None:
    global_only = settings(tmp_path, {"only_labelled": "CRM", "never_labelled": ["Private", " HR "]})
    assert label_rule(global_only, global_only.mailboxes[0]) == LabelRule(only=("CRM",), never=("Private", "HR"))
    own = settings(tmp_path, {"never_labelled": "Private"}, only_labelled=["Deals"], never_labelled=[])
    assert label_rule(own, own.mailboxes[0]) == LabelRule(only=("Deals",), never=())
    assert label_rule(settings(tmp_path, {}), settings(tmp_path, {}).mailboxes[0]) is None


def test_a_blank_label_name_is_refused_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(tmp_path, {"never_labelled": ["Private", ""]})
    assert any(p.startswith("sync.never_labelled") for p in refused.value.problems), refused.value.problems
