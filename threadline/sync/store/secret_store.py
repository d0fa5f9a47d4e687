"""Named secrets in the store, sealed with a KeyRing: get, put, delete, names, status, rotate.

Only ciphertext and the sealing key's fingerprint reach the database. A `SecretStore`
satisfies the adapters' `TokenStore` protocol (get/put), so wiring hands it to adapters
that cache tokens; adapters never see the store itself.
"""

from __future__ import annotations

from collections import Counter

from sqlmodel import col, select

from threadline.sync.store.database import Store
from threadline.sync.store.sealed import KeyRing, Sealed, WrongKey
from threadline.sync.store.tables import SecretRow, utcnow
from threadline.sync.store.upsert import upsert


class SecretStore:
    """Secrets by name in the `secrets` table. Safe to share between threads and replicas."""

    def __init__(self, store: Store, keys: KeyRing) -> None:
        self.store = store
        self.keys = keys

    def get(self, name: str) -> str | None:
        """The secret's plaintext, or None if absent. Raises WrongKey if no configured key opens it."""
        with self.store.session() as session:
            row = session.get(SecretRow, name)
        if row is None:
            return None
        return self.keys.open(Sealed(row.key_id, row.ciphertext), what=f"secret {name!r}")

    def put(self, name: str, value: str) -> None:
        """Seal `value` under the primary key and store it (replacing any previous value)."""
        sealed = self.keys.seal(value)
        with self.store.session() as session:
            upsert(session, SecretRow, [{"name": name, "key_id": sealed.key_id, "ciphertext": sealed.ciphertext,
                                         "updated_at": utcnow()}], keys=["name"])

    def delete(self, name: str) -> bool:
        """Remove the secret; False if there was none."""
        with self.store.session() as session:
            row = session.get(SecretRow, name)
            if row is None:
                return False
            session.delete(row)
        return True

    def names(self, prefix: str = "") -> list[str]:
        """Names of the stored secrets (never values), sorted."""
        with self.store.session() as session:
            query = select(SecretRow.name).where(col(SecretRow.name).startswith(prefix)).order_by(SecretRow.name)
            return list(session.exec(query))

    def status(self) -> dict[str, int]:
        """How many secrets each key fingerprint sealed."""
        return counts_by_key(self.store)

    def check_keys(self) -> None:
        """Raise WrongKey, naming the fingerprints the rows need, if some rows were sealed with unknown keys."""
        missing = sorted(set(self.status()) - set(self.keys.fingerprints))
        if missing:
            raise WrongKey(f"stored secrets are encrypted under key {', '.join(missing)}, which is not configured "
                           f"(configured: {', '.join(self.keys.fingerprints)})",
                           needed=missing, configured=self.keys.fingerprints)

    def rotate(self) -> int:
        """Re-seal every secret not under the primary key, in one transaction. Idempotent; returns rows changed.

        Raises WrongKey (changing nothing) if a row cannot be opened with the configured keys.
        """
        with self.store.session() as session:
            query = select(SecretRow).where(SecretRow.key_id != self.keys.primary).order_by(SecretRow.name)
            if self.store.shared:
                query = query.with_for_update()      # a replica's concurrent put waits for the rotation
            rows = list(session.exec(query))
            for row in rows:
                sealed = self.keys.seal(self.keys.open(Sealed(row.key_id, row.ciphertext),
                                                       what=f"secret {row.name!r}"))
                row.key_id, row.ciphertext, row.updated_at = sealed.key_id, sealed.ciphertext, utcnow()
                session.add(row)
        return len(rows)


def counts_by_key(store: Store) -> dict[str, int]:
    """How many stored secrets each key fingerprint sealed (needs no key: nothing is decrypted)."""
    with store.session() as session:
        return dict(Counter(session.exec(select(SecretRow.key_id))))
