"""Replicas that start together on one PostgreSQL all run migrations on start: exactly one applies them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from threadline.sync.store.database import head_revision

UPGRADE = "import sys; from threadline.sync.store.database import upgrade; print(upgrade(sys.argv[1]))"


@pytest.mark.postgres
def test_replicas_starting_at_once_on_an_empty_postgres_all_reach_head(postgres_url: str) -> None:
    replicas = [subprocess.Popen([sys.executable, "-c", UPGRADE, postgres_url],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [replica.communicate(timeout=120) for replica in replicas]
    results = [(replica.returncode, out, err) for replica, (out, err) in zip(replicas, outputs, strict=True)]
    assert [code for code, _, _ in results] == [0, 0, 0], [err[-2000:] for _, _, err in results]
    assert {out.strip() for _, out, _ in results} == {head_revision()}
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    engine.dispose()
