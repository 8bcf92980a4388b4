"""SQLite group commit: concurrent transactions share fsyncs of the WAL, and every commit that returned is on disk
as far as SQLite can tell (its frames are in the WAL file that was fsynced after it)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, text

from callvault.config import Settings
from callvault.core.db import group_commit, make_engine

THREADS = 8
COMMITS = 25


def _engine(tmp_path: Path, *, grouped: bool = True) -> Engine:
    settings = Settings(data_dir=tmp_path, database_url="", sqlite_group_commit=grouped)
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'g.sqlite3'}", settings=settings)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (thread INTEGER, n INTEGER)"))
    return engine


def test_concurrent_commits_share_fsyncs_and_all_land(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    group = group_commit(engine)
    assert group is not None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL: the fsync is ours
    before = group.fsyncs
    start = threading.Barrier(THREADS)

    def writer(i: int) -> None:
        start.wait()
        for n in range(COMMITS):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:i, :n)"), {"i": i, "n": n})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fsyncs = group.fsyncs - before
    assert 0 < fsyncs < THREADS * COMMITS, fsyncs
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == THREADS * COMMITS
    engine.dispose()


def test_a_read_only_transaction_waits_for_no_fsync(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    group = group_commit(engine)
    assert group is not None
    before = group.fsyncs
    with engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM t")).scalar()
    assert group.fsyncs == before
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (0, 0)"))
    assert group.fsyncs == before + 1
    engine.dispose()


def test_without_group_commit_every_commit_fsyncs_itself(tmp_path: Path) -> None:
    engine = _engine(tmp_path, grouped=False)
    assert group_commit(engine) is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
