"""Sequences send from the team's mailboxes however they came: a mailbox found from the CRM's owners (a Gmail
service account with domain-wide delegation) sends its owner's contacts their steps, once each, and stops
sending when the owner is archived (issue #17: the sequence runner used to see only `mailboxes:`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.engine.sequence_world import SERVER, header_of, sequence_config
from tests.engine.test_team_discovery import DOMAIN, owner, set_archived, team_config
from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer


def sent_by(sandbox: SandboxServer, address: str) -> Counter[str]:
    """How many sequence emails each recipient got from `address` (what Gmail accepted carries SENT)."""
    return Counter(header_of(m.raw, "To") for m in sandbox.gmail.messages(address) if "SENT" in m.labels)


def test_a_found_mailbox_sends_its_owners_contacts_their_steps_once(sandbox: SandboxServer, tmp_path: Path) -> None:
    ann = owner(sandbox, "ann")
    ben = owner(sandbox, "ben")
    sandbox.hubspot.add_contact("pat@customer.example", firstname="Pat", owner_id=ann)
    sandbox.hubspot.add_contact("sam@prospect.example", firstname="Sam", owner_id=ben)
    config = team_config(sandbox, tmp_path)
    config["server"] = dict(SERVER)
    config["rules"] = {"sequences": [sequence_config(steps=2)]}
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    try:
        for _ in range(4):
            engine.run_once()
        assert sent_by(sandbox, f"ann@{DOMAIN}") == Counter({"pat@customer.example": 2})
        assert sent_by(sandbox, f"ben@{DOMAIN}") == Counter({"sam@prospect.example": 2})
        steps = sorted(header_of(m.raw, "Subject") for m in sandbox.gmail.messages(f"ann@{DOMAIN}")
                       if "SENT" in m.labels)
        assert steps == ["Step 1 for Pat", "Step 2 for Pat"]

        set_archived(sandbox, ben, True)                      # Ben leaves: nothing more goes out from his mailbox
        sandbox.hubspot.add_contact("kim@prospect.example", firstname="Kim", owner_id=ben)
        sandbox.hubspot.add_contact("lee@prospect.example", firstname="Lee", owner_id=ann)   # the control
        for _ in range(3):
            engine.run_once()
        assert f"ben@{DOMAIN}" not in {b.adapter.address for b in engine.mailboxes}
        assert "kim@prospect.example" not in sent_by(sandbox, f"ben@{DOMAIN}")
        # Ann's new contact gets both steps in the same cycles (so Kim's silence is Ben's leaving), and Pat
        # nothing twice.
        assert sent_by(sandbox, f"ann@{DOMAIN}") == Counter({"pat@customer.example": 2, "lee@prospect.example": 2})
    finally:
        engine.close()
