"""Per-mailbox daily caps and spacing defer the excess, deterministically."""

from datetime import UTC, datetime, timedelta

from threadline.rules.sequences import DueStep, SendLimits, apply_mailbox_caps

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)


def due(contact_id, minutes_ago=0, kind="email"):
    return DueStep(sequence="seq", contact_id=contact_id, step_index=0, kind=kind,
                   due_at=NOW - timedelta(minutes=minutes_ago), key=f"k-{contact_id}", subject="s", body="b",
                   thread_reply=False)


def mailbox_of(contact_id):
    return "dana@us.io" if contact_id.startswith("d") else "lee@us.io"


def test_daily_cap_defers_the_excess_and_keeps_due_times():
    limits = {"seq": SendLimits(daily_cap=3, spacing_minutes=0)}
    steps = [due(f"d{i}", minutes_ago=10 - i) for i in range(5)]
    send, deferred = apply_mailbox_caps(steps, {"dana@us.io": 1}, mailbox_of, limits, NOW)
    assert [s.contact_id for s in send] == ["d0", "d1"]
    assert [s.contact_id for s in deferred] == ["d2", "d3", "d4"]
    assert [s.due_at for s in deferred] == [s.due_at for s in steps[2:]]


def test_spacing_sends_one_per_mailbox_now_and_slots_the_rest():
    limits = {"seq": SendLimits(daily_cap=50, spacing_minutes=2)}
    steps = [due("d1", 3), due("d2", 2), due("l1", 1), due("d3", 0)]
    send, deferred = apply_mailbox_caps(steps, {}, mailbox_of, limits, NOW)
    assert [s.contact_id for s in send] == ["d1", "l1"]
    assert [(s.contact_id, s.due_at) for s in deferred] == [
        ("d2", NOW + timedelta(minutes=2)), ("d3", NOW + timedelta(minutes=4))]


def test_spacing_counts_from_the_mailboxs_last_send():
    limits = {"seq": SendLimits(daily_cap=50, spacing_minutes=2)}
    send, deferred = apply_mailbox_caps([due("d1")], {}, mailbox_of, limits, NOW,
                                        last_sent_at={"dana@us.io": NOW - timedelta(minutes=1)})
    assert send == [] and deferred[0].due_at == NOW + timedelta(minutes=1)


def test_tasks_are_not_capped():
    limits = {"seq": SendLimits(daily_cap=1, spacing_minutes=0)}
    send, deferred = apply_mailbox_caps([due("d1", kind="task"), due("d2", kind="task")], {"dana@us.io": 5},
                                        mailbox_of, limits, NOW)
    assert len(send) == 2 and deferred == []
