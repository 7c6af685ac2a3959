"""Mapillary import jobs as rows: create, read, claim (FOR UPDATE SKIP LOCKED), finish, recover.

A job imports one Mapillary sequence for one user. Its life: ``queued`` → ``running`` →
``imported`` | ``exists`` | ``failed``; ``geoapi.mapillary.jobs`` runs the attempts. Every
function runs in the caller's transaction (``engine.begin()``): a claim is published by its
commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.store import committed, read_sql
from geoapi.store.models import ImportJob
from geoapi.store.models import Sequence as SequenceRow

log = logging.getLogger(__name__)
Conn = Connection | Session
FINAL = frozenset({"imported", "exists", "failed"})


@dataclass(frozen=True)
class Job:
    """One ``import_jobs`` row."""

    id: uuid.UUID
    user_id: uuid.UUID
    source: str
    sequence_key: str
    options: dict[str, Any]
    status: str
    reason: str | None
    sequence_id: uuid.UUID | None
    attempts: int
    max_attempts: int
    run_after: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


# Queries ----------------------------------------------------------------------------------------


def imported_keys(conn: Conn, user_id: uuid.UUID, keys: Sequence[str]) -> dict[str, uuid.UUID]:
    """Which of ``keys`` the user has imported already: key → sequence id."""
    if not keys:
        return {}
    rows = conn.execute(
        select(SequenceRow.mapillary_key, SequenceRow.id).where(
            SequenceRow.owner_id == user_id, SequenceRow.mapillary_key.in_(list(keys))
        )
    )
    return {row.mapillary_key: row.id for row in rows}


def create_jobs(
    conn: Conn,
    user_id: uuid.UUID,
    source: str,
    keys: Sequence[str],
    options: dict[str, Any],
    max_attempts: int,
) -> list[Job]:
    """One job per key (unique keys), in the order given; keys already imported are ``exists``."""
    rows = conn.execute(
        text(read_sql("job_create")),
        {
            "user_id": user_id,
            "source": source,
            "keys": list(keys),
            "options": json.dumps(options),
            "max_attempts": max_attempts,
        },
    ).all()
    by_key = {row.sequence_key: Job.from_row(row) for row in rows}
    return [by_key[key] for key in keys]


queue_jobs = committed(create_jobs)
"""``create_jobs`` as a request's own unit of work (committed)."""


def get_job(conn: Conn, job_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Job | None:
    """A job by id; with ``user_id``, only that user's job (others' are None, i.e. 404)."""
    query = select(*ImportJob.__table__.columns).where(ImportJob.id == job_id)
    if user_id is not None:
        query = query.where(ImportJob.user_id == user_id)
    row = conn.execute(query).one_or_none()
    return Job.from_row(row) if row else None


def claim_next(conn: Conn, worker_id: str) -> Job | None:
    """Take the oldest due queued job for ``worker_id`` (commit to publish the claim)."""
    row = conn.execute(text(read_sql("job_claim_next")), {"worker_id": worker_id}).one_or_none()
    return Job.from_row(row) if row else None


def claim_job(conn: Conn, job_id: uuid.UUID, worker_id: str) -> Job | None:
    """Take one given job if it is queued and no one else is taking it."""
    row = conn.execute(
        text(read_sql("job_claim")), {"job_id": job_id, "worker_id": worker_id}
    ).one_or_none()
    return Job.from_row(row) if row else None


def recover_stale(conn: Conn, stale_after_s: float) -> int:
    """Re-queue (or fail, when out of attempts) running jobs whose worker stopped; the count."""
    rows = conn.execute(text(read_sql("job_recover_stale")), {"stale_after_s": stale_after_s}).all()
    for row in rows:
        log.warning("import job %s lost its worker; now %s", row.id, row.status)
    return len(rows)


def finish_job(
    conn: Conn,
    job: Job,
    worker_id: str,
    status: str,
    reason: str | None,
    sequence_id: uuid.UUID | None = None,
    delay_s: float = 0.0,
) -> Job | None:
    """Record an attempt's end; None if the job was taken from this worker meanwhile."""
    row = conn.execute(
        text(read_sql("job_finish")),
        {
            "job_id": job.id,
            "worker_id": worker_id,
            "status": status,
            "reason": reason,
            "sequence_id": sequence_id,
            "delay_s": delay_s,
        },
    ).one_or_none()
    return Job.from_row(row) if row else None
