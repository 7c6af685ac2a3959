"""A real streaming replica of the local PostgreSQL for the replica tests.

``make_standby`` creates a second cluster of the server's major version with
``pg_createcluster``, empties its data directory and fills it with ``pg_basebackup -R -X stream``
from 127.0.0.1:5432 (run as the ``postgres`` user) through a replication slot of its own, so the
primary keeps the WAL it needs while it is stopped; ``drop_standby`` removes cluster and slot.
Cluster and slot are named after the creating process, so leftovers of a killed run are
recognised and removed by the next one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import free_port
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

PRIMARY = ("127.0.0.1", 5432)
PREFIX = "geoapi_replica_"
LEFTOVER = re.compile(rf"^{PREFIX}(\d+)_[0-9a-f]+$")
TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters", "runuser")
# Hot standby refuses to start with less of these than the primary has.
COPIED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def why_not_possible(database_url: str) -> str | None:
    """Why this machine cannot run the replica test, or None when it can."""
    if os.geteuid() != 0:
        return "making a PostgreSQL cluster (pg_createcluster) needs root"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing (Debian's postgresql-common)"
    url = make_url(database_url)
    if (url.host, url.port or 5432) not in (PRIMARY, ("localhost", 5432)):
        return f"the test database is on {url.host}:{url.port}, not the local 127.0.0.1:5432"
    return None


def run(*args: str, timeout: float = 180) -> str:
    """Run a command; its stdout, or RuntimeError with its stderr."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stdout


@dataclass
class Standby:
    """A running (or stopped) hot standby of the primary, with the test database on it."""

    major: str
    name: str
    port: int
    database: str
    engine: Engine  # autocommit, no pool: survives stops and starts
    running: bool = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def sql(self, statement: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(statement), params).scalar()

    def ctl(self, action: str, *extra: str) -> None:
        run("pg_ctlcluster", "--skip-systemctl-redirect", self.major, self.name, action, *extra)

    def stop(self) -> None:
        self.ctl("stop", "-m", "fast")
        self.running = False

    def start(self) -> None:
        self.ctl("start")
        self.running = True

    def pause(self) -> None:
        """Pause WAL replay (WAL still arrives); returns once it has paused."""
        self.sql("SELECT pg_wal_replay_pause()")
        self._wait("SELECT pg_get_wal_replay_pause_state() = 'paused'", "replay to pause")

    def resume(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def catch_up(self, primary: Engine, timeout_s: float = 120) -> None:
        """Wait until the standby has replayed everything the primary has written so far."""
        with primary.connect() as conn:
            lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        self._wait(
            f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn", f"replay of {lsn}", timeout_s
        )

    def _wait(self, query: str, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.sql(query):
                    return
            except OperationalError:
                pass  # starting up
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}")
            time.sleep(0.02)


def _clusters(major: str) -> dict[str, str]:
    """Cluster name → data directory, for the major version."""
    found = {}
    for line in run("pg_lsclusters", "--no-header").splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == major:
            found[fields[1]] = fields[5]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(major: str, primary: Engine) -> None:
    """Drop clusters and slots this helper made in processes that are gone."""
    for name in _clusters(major):
        match = LEFTOVER.match(name)
        if match and not _alive(int(match.group(1))):
            run("pg_dropcluster", "--stop", major, name)
    with primary.connect() as conn:
        slots = conn.execute(
            text("SELECT slot_name FROM pg_replication_slots WHERE NOT active")
        ).scalars()
        for slot in list(slots):
            match = LEFTOVER.match(slot)
            if match and not _alive(int(match.group(1))):
                conn.execute(text("SELECT pg_drop_replication_slot(:s)"), {"s": slot})
        conn.commit()


def make_standby(primary: Engine, database: str) -> Standby:
    """Create, fill and start a hot standby of the primary; see the module docstring."""
    with primary.connect() as conn:
        major = str(conn.execute(text("SHOW server_version_num")).scalar_one())[:-4]
        copied = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in COPIED_SETTINGS}
    sweep_leftovers(major, primary)
    name = f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"
    port = free_port()
    run("pg_createcluster", major, name, "--port", str(port), "--start-conf", "manual")
    engine = create_engine(
        f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{database}",
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    standby = Standby(major, name, port, database, engine)
    try:
        _fill(standby, copied)
        standby.start()
        standby.catch_up(primary)
    except BaseException:
        drop_standby(standby, primary)
        raise
    return standby


def _fill(standby: Standby, copied: dict[str, str]) -> None:
    data = Path(_clusters(standby.major)[standby.name])
    for child in data.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    conf = Path("/etc/postgresql") / standby.major / standby.name
    # A throwaway cluster: no fsync (startup skips syncing the copied files too).
    settings = {"fsync": "off", "hot_standby": "on", **copied}
    (conf / "conf.d" / "geoapi-test.conf").write_text(
        "".join(f"{key} = '{value}'\n" for key, value in settings.items())
    )
    (conf / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    basebackup = Path("/usr/lib/postgresql") / standby.major / "bin" / "pg_basebackup"
    host, port = PRIMARY
    try:
        run(
            "runuser", "-u", "postgres", "--",
            str(basebackup), "-h", host, "-p", str(port), "-U", "postgres", "-D", str(data),
            "-R", "-X", "stream", "-C", "-S", standby.name, "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
    except RuntimeError as exc:
        if "pg_hba.conf" in str(exc):
            raise RuntimeError(
                f"{exc}\nthe primary refuses replication connections from 127.0.0.1: run"
                " .ci/setup (bash .ci/allow-replication)"
            ) from None
        raise


def drop_standby(standby: Standby, primary: Engine) -> None:
    """Stop and drop the cluster, then its slot on the primary (once no walsender uses it)."""
    standby.engine.dispose()
    if standby.name in _clusters(standby.major):
        run("pg_dropcluster", "--stop", standby.major, standby.name)
    deadline = time.monotonic() + 30
    with primary.connect() as conn:
        while True:
            active = conn.execute(
                text("SELECT active FROM pg_replication_slots WHERE slot_name = :s"),
                {"s": standby.name},
            ).scalar()
            if active is None:
                return
            if not active:
                conn.execute(text("SELECT pg_drop_replication_slot(:s)"), {"s": standby.name})
                conn.commit()
                return
            conn.rollback()
            if time.monotonic() > deadline:
                raise RuntimeError(f"replication slot {standby.name} is still active")
            time.sleep(0.1)
