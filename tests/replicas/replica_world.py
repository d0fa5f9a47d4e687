"""Several real `threadline run` replicas over one PostgreSQL store, HubSpot and Gmail in the sandbox.

The world: `mailboxes` reps, each a Gmail mailbox in the sandbox and a HubSpot owner; each rep owns some
contacts who reply (`repliers`) and some who enter a two-step sequence (`prospects`, jobtitle "Prospect").
Replies are delivered to the reps' inboxes while the replicas run; what landed is read back from the
sandbox (HubSpot email engagements, Gmail SENT) and from the shared store (outbox rows, leases).

Used by tests/replicas/test_three_replicas.py and bench/bench_replicas.py.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import inspect, text
from sqlmodel import select

from tests.engine.world import REP_DOMAIN, SANDBOX_HUBSPOT_TOKEN, write_config
from tests.engine.world import email as build_email
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, OutboxRow

SEQUENCE = "replicas"
PROSPECT_TITLE = "Prospect"
SERVER = {"port": 0, "public_url": "https://threadline.test", "unsubscribe_secret": "unsubscribe-secret-for-tests"}
ALL_WEEK = {"start": "00:00", "end": "23:59:59", "days": [0, 1, 2, 3, 4, 5, 6]}


def rep_address(i: int) -> str:
    return f"rep{i:03d}@{REP_DOMAIN}"


def sequence_config(steps: int) -> dict[str, Any]:
    """Prospects (only) enter on contact.created; every step due at once, any hour, no spacing."""
    step = {"kind": "email", "delay": {"hours": 0},
            "body": "Hello from {{ owner.name }}.\nUnsubscribe: {{ unsubscribe_url }}\n"}
    return {"name": SEQUENCE, "enroll_on": "contact.created", "enroll_when": {"contact.jobtitle": PROSPECT_TITLE},
            "on_reply": "exit", "window": dict(ALL_WEEK), "spacing_minutes": 0, "daily_cap_per_mailbox": 500,
            "steps": [{**step, "subject": f"Step {n} for {{{{ contact.firstname }}}}"} for n in range(1, steps + 1)]}


@dataclass
class Rep:
    """One rep: the Gmail mailbox, the HubSpot owner, the contacts who reply and those in the sequence."""

    address: str
    owner_id: str
    repliers: list[tuple[str, str]]      # (contact id, email)
    prospects: list[tuple[str, str]]


@dataclass
class Replica:
    """One `threadline run` process; its output goes to files next to the config."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def owns(self, owner: str | None) -> bool:
        """Whether a lease owner ("host:pid" or "host:pid:nonce", see sync/leases.replica_id) is this process."""
        return f":{self.pid}:" in f"{owner or ''}:"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> float:
        """SIGKILL (no cleanup at all); returns when it was sent (time.monotonic())."""
        at = time.monotonic()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        return at

    def terminate(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM, then wait up to `timeout`: (exit code or None if still running, seconds it took)."""
        at = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - at

    def output(self, tail: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def close(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@dataclass
class ReplicaWorld:
    """The sandbox, the shared store, the config every replica runs with, and the reps."""

    sandbox: SandboxServer
    store_url: str
    config: Path
    reps: list[Rep]
    replicas: list[Replica] = field(default_factory=list)
    replies_sent: dict[str, list[str]] = field(default_factory=dict)   # contact id -> subjects delivered
    _reply_numbers: itertools.count[int] = field(default_factory=itertools.count)
    _store: Store | None = None

    # -- processes -------------------------------------------------------------------------------------------

    def start_replica(self, name: str, crash_at: str | None = None, extra_env: dict[str, str] | None = None
                      ) -> Replica:
        """`python -m threadline run --config ...` (killed at `crash_at` if given, see crashpoints.py)."""
        env = {**os.environ, "HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN,
               **(extra_env or {})}
        env.pop("THREADLINE_CRASH_AT", None)
        if crash_at:
            env["THREADLINE_CRASH_AT"] = crash_at
        log_path = self.config.parent / f"replica-{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen([sys.executable, "-m", "threadline", "run", "--config", str(self.config)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        replica = Replica(name, process, log_path, time.monotonic(), log)
        self.replicas.append(replica)
        return replica

    def close(self) -> None:
        for replica in self.replicas:
            replica.close()
        if self._store is not None:
            self._store.dispose()

    # -- mail ------------------------------------------------------------------------------------------------

    def deliver_replies(self, per_rep: int = 1) -> int:
        """Each rep gets `per_rep` new replies, from its repliers in turn; returns how many were delivered."""
        delivered = 0
        for rep in self.reps:
            for _ in range(per_rep):
                n = next(self._reply_numbers)
                contact_id, address = rep.repliers[n % len(rep.repliers)]
                subject = f"Re: Proposal {n}"
                raw = build_email(address, rep.address, subject, f"Reply number {n}: yes, let's talk.\n",
                                  msg_id=f"<reply-{n}@customer.example>", when=datetime.now(UTC))
                self.sandbox.gmail.deliver(rep.address, raw, ["INBOX", "UNREAD"])
                self.replies_sent.setdefault(contact_id, []).append(subject)
                delivered += 1
        return delivered

    def logged_replies(self) -> dict[str, Counter[str]]:
        """Incoming email engagements on HubSpot, per replier contact id: subject -> copies."""
        found: dict[str, Counter[str]] = {}
        for rep in self.reps:
            for contact_id, _ in rep.repliers:
                found[contact_id] = Counter(e["properties"]["hs_email_subject"]
                                            for e in self.sandbox.hubspot.emails_for(contact_id)
                                            if e["properties"].get("hs_email_direction") == "INCOMING_EMAIL")
        return found

    def replies_logged(self) -> int:
        """How many of the delivered replies are on HubSpot (each counted once however many copies)."""
        logged = self.logged_replies()
        return sum(len(set(subjects) & set(logged.get(cid, {}))) for cid, subjects in self.replies_sent.items())

    def sent_copies(self) -> Counter[str]:
        """How often each Message-ID went out: Gmail's SENT of every rep."""
        copies: Counter[str] = Counter()
        for rep in self.reps:
            for message in self.sandbox.gmail.messages(rep.address):
                if "SENT" in message.labels:
                    copies[message.header("Message-ID").strip()] += 1
        return copies

    # -- the store -------------------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.store_url, migrate=False)
        return self._store

    def outbox_rows(self) -> list[OutboxRow]:
        with self.store.session() as session:
            return list(session.exec(select(OutboxRow)).all())

    def outbox_states(self) -> Counter[str]:
        return Counter(row.status for row in self.outbox_rows())

    def intended_sends(self) -> dict[str, OutboxRow]:
        """send_email rows by the Message-ID they carry."""
        return {json.loads(r.payload)["email"]["message_id"]: r for r in self.outbox_rows() if r.kind == "send_email"}

    def enrollments(self) -> list[EnrollmentRow]:
        with self.store.session() as session:
            return list(session.exec(select(EnrollmentRow).where(EnrollmentRow.sequence == SEQUENCE)).all())

    def has_table(self, name: str) -> bool:
        with self.store.engine.connect() as connection:
            return inspect(connection).has_table(name)

    def leases(self) -> list[dict[str, Any]]:
        """Rows of the work_leases table (unit, owner, expiry...) as the store holds them now; [] without it."""
        if not self.has_table("work_leases"):
            return []
        with self.store.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text("SELECT * FROM work_leases"))]

    # -- waiting ---------------------------------------------------------------------------------------------

    def wait_until(self, done: Any, timeout: float, every: float = 0.25) -> float:
        """Poll `done()` until true; returns the seconds it took. Raises TimeoutError with the replicas' logs."""
        start = time.monotonic()
        while not done():
            if time.monotonic() - start > timeout:
                logs = "\n".join(f"--- {r.name} (pid {r.pid}, rc {r.process.poll()})\n{r.output(2500)}"
                                 for r in self.replicas)
                raise TimeoutError(f"not done after {timeout:.0f}s\n{logs}")
            time.sleep(every)
        return time.monotonic() - start


def build_world(tmp_path: Path, sandbox: SandboxServer, store_url: str, *, mailboxes: int, repliers: int = 2,
                prospects: int = 1, steps: int = 2, sync: dict[str, Any] | None = None,
                crm: dict[str, Any] | None = None) -> ReplicaWorld:
    """Seed owners, contacts and Gmail users for `mailboxes` reps, and write the one config every replica uses
    (server.port 0: each picks a free port). `sync` adds sync settings (poll_interval, lease_time...)."""
    reps = []
    for i in range(mailboxes):
        address = rep_address(i)
        owner_id = sandbox.hubspot.add_owner(address, first_name=f"Rep{i}", last_name="Northwind")
        people = []
        for j in range(repliers + prospects):
            email = f"buyer{i}x{j}@customer{i}.example"
            title = PROSPECT_TITLE if j >= repliers else "Buyer"
            people.append((sandbox.hubspot.add_contact(email, owner_id=owner_id, firstname=f"B{i}x{j}",
                                                       jobtitle=title), email))
        reps.append(Rep(address, owner_id, people[:repliers], people[repliers:]))
    config = write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox,
                          mailboxes=[gmail_mailbox(sandbox, rep) for rep in reps],
                          sections={"rules": {"sequences": [sequence_config(steps)]}, "server": SERVER},
                          **(sync or {}))
    if crm:
        _merge_crm(config, crm)
    return ReplicaWorld(sandbox, store_url, config, reps)


def gmail_mailbox(sandbox: SandboxServer, rep: Rep) -> dict[str, Any]:
    s = sandbox.settings
    return {"kind": "gmail", "address": rep.address, "owner_id": rep.owner_id, "display_name": rep.address,
            "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token", "client_id": s.google_client_id,
            "client_secret": s.google_client_secret,
            "refresh_token": sandbox.gmail.oauth.issue_refresh_token(rep.address), "sent_copy_delay": "1s"}


def _merge_crm(config: Path, crm: dict[str, Any]) -> None:
    import yaml

    data = yaml.safe_load(config.read_text())
    data["crm"].update(crm)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
