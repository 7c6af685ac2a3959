"""Mapillary import jobs: create, claim (FOR UPDATE SKIP LOCKED), run, retry, recover, work.

A job imports one Mapillary sequence for one user. Its life: ``queued`` → ``running`` →
``imported`` | ``exists`` | ``failed``; a transient upstream failure (429, 5xx, timeout, no
connection, after the client's own retries) sends it back to ``queued`` with an exponential
``run_after`` until ``max_attempts``. A job whose worker died stays ``running`` until its lock is
older than ``stale_after_s``, then is queued again (or failed once its attempts are spent).
The sequence itself is written in one transaction by the importer, so a failed or interrupted
attempt leaves nothing behind and a repeated one finds ``exists``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from geoapi.config import Settings
from geoapi.db import read_sql
from geoapi.importer import ImportOptions, import_feature_collection
from geoapi.mapillary import (
    MapillaryAuthError,
    MapillaryConnectionError,
    MapillaryError,
    MapillaryHTTPError,
    MapillaryNotFoundError,
    MapillaryResponseError,
    MapillaryTimeoutError,
    redact,
)
from geoapi.mapillary_accounts import (
    AccountError,
    Conn,
    active_account,
    open_source,
    owns_sequence,
)

log = logging.getLogger(__name__)
FINAL = frozenset({"imported", "exists", "failed"})


@dataclass(frozen=True)
class JobPolicy:
    """Retry and recovery timing; delays in seconds."""

    retry_delay_s: float = 30.0  # first retry; doubles with each attempt
    stale_after_s: float = 900.0  # a running job older than this lost its worker

    def delay(self, attempts: int) -> float:
        return float(self.retry_delay_s * 2 ** max(attempts - 1, 0))


def policy_from_settings(settings: Settings) -> JobPolicy:
    """The policy from settings (GEOAPI_JOB_RETRY_DELAY_S, GEOAPI_JOB_STALE_AFTER_S)."""
    return JobPolicy(
        retry_delay_s=settings.job_retry_delay_s, stale_after_s=settings.job_stale_after_s
    )


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

    def to_json(self) -> dict[str, Any]:
        """The job as the API shows it (no user id, no lock holder)."""
        return {
            "id": str(self.id),
            "sequence_key": self.sequence_key,
            "status": self.status,
            "reason": self.reason,
            "sequence_id": str(self.sequence_id) if self.sequence_id else None,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


# Queries ----------------------------------------------------------------------------------------


def imported_keys(conn: Conn, user_id: uuid.UUID, keys: Sequence[str]) -> dict[str, uuid.UUID]:
    """Which of ``keys`` the user has imported already: key → sequence id."""
    if not keys:
        return {}
    rows = conn.execute(
        text(
            "SELECT mapillary_key, id FROM sequences"
            " WHERE owner_id = :u AND mapillary_key = ANY(CAST(:keys AS text[]))"
        ),
        {"u": user_id, "keys": list(keys)},
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


def get_job(conn: Conn, job_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Job | None:
    """A job by id; with ``user_id``, only that user's job (others' are None, i.e. 404)."""
    row = conn.execute(
        text(
            "SELECT * FROM import_jobs WHERE id = :id"
            " AND (CAST(:u AS uuid) IS NULL OR user_id = CAST(:u AS uuid))"
        ),
        {"id": job_id, "u": user_id},
    ).one_or_none()
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


# Running ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to: a final status, or ``retry`` for a transient failure."""

    status: str  # imported | exists | failed | retry
    reason: str | None = None
    sequence_id: uuid.UUID | None = None


_TRANSIENT = (MapillaryTimeoutError, MapillaryConnectionError)


def _is_transient(exc: MapillaryError) -> bool:
    if isinstance(exc, _TRANSIENT):
        return True
    status = exc.status_code
    return status is not None and (status == 429 or status >= 500)


def _failure(exc: MapillaryError, key: str, token: str) -> Attempt:
    """Map a client error onto the attempt's outcome; the reason never holds the token."""
    text_ = redact(str(exc), (token,))
    if isinstance(exc, MapillaryNotFoundError):
        return Attempt("failed", f"Mapillary has no sequence {key} (deleted or private): {text_}")
    if isinstance(exc, MapillaryAuthError):
        return Attempt(
            "failed", "Mapillary refused the linked account's token; log in to Mapillary again"
        )
    if isinstance(exc, MapillaryResponseError):
        return Attempt("failed", f"Mapillary sent an unusable answer: {text_}")
    if _is_transient(exc):
        return Attempt("retry", text_)
    if isinstance(exc, MapillaryHTTPError):
        return Attempt("failed", text_)
    return Attempt("retry", text_)


def attempt_import(
    engine: Engine,
    settings: Settings,
    job: Job,
    sleep: Callable[[float], None] | None = None,
) -> Attempt:
    """Fetch the job's sequence from Mapillary with the owner's account and import it."""
    try:
        with engine.begin() as conn:
            account = active_account(conn, settings, job.user_id)
    except AccountError as exc:
        return Attempt("failed", str(exc))
    except MapillaryError as exc:
        return _failure(exc, job.sequence_key, "")
    token = account.access_token
    try:
        with open_source(settings, account.api_version, sleep or time.sleep) as source:
            feature = source.get_sequence(token, job.sequence_key)
    except MapillaryError as exc:
        return _failure(exc, job.sequence_key, token)
    if not owns_sequence(feature, account.mapillary_user_key, account.mapillary_username):
        props = feature.get("properties") or {}
        return Attempt(
            "failed",
            f"Mapillary sequence {job.sequence_key} belongs to Mapillary user "
            f"{props.get('username') or props.get('user_key')!r}, not to the linked account "
            f"{account.mapillary_username!r}",
        )
    options = ImportOptions(
        title=job.options.get("title"),
        description=job.options.get("description"),
        transport_type=job.options.get("transport_type"),
        tags=tuple(job.options["tags"]) if job.options.get("tags") is not None else None,
        source=job.source,
    )
    outcome = import_feature_collection(engine, job.user_id, feature, options).outcomes[0]
    reason = outcome.reason
    if outcome.status == "failed" and outcome.field:
        reason = f"{reason} ({outcome.field})"
    return Attempt(outcome.status, reason, outcome.sequence_id)


def run_job(
    engine: Engine,
    settings: Settings,
    job: Job,
    worker_id: str,
    policy: JobPolicy,
    sleep: Callable[[float], None] | None = None,
) -> Job:
    """Run one claimed attempt and record it: final, queued again with backoff, or given up."""
    try:
        attempt = attempt_import(engine, settings, job, sleep)
    except Exception as exc:  # a bug or a database outage: counted as an attempt, logged
        log.exception("import job %s attempt %d crashed", job.id, job.attempts)
        attempt = Attempt("retry", f"internal error ({type(exc).__name__})")
    status, reason, delay = attempt.status, attempt.reason, 0.0
    if status == "retry":
        if job.attempts < job.max_attempts:
            status, delay = "queued", policy.delay(job.attempts)
            reason = (
                f"attempt {job.attempts} of {job.max_attempts} failed: {reason}; "
                f"retrying in {delay:g} s"
            )
        else:
            status, reason = "failed", f"gave up after {job.attempts} attempt(s): {reason}"
    with engine.begin() as conn:
        recorded = finish_job(conn, job, worker_id, status, reason, attempt.sequence_id, delay)
        if recorded is None:
            log.warning("import job %s was taken from worker %s; result dropped", job.id, worker_id)
            recorded = get_job(conn, job.id) or job
    log.info("import job %s (%s) attempt %d: %s", job.id, job.sequence_key, job.attempts, status)
    return recorded


def default_worker_id(prefix: str = "worker") -> str:
    """``prefix:host:pid:thread``, unique enough to tell lock holders apart."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_inline(
    engine: Engine,
    settings: Settings,
    job_ids: Sequence[uuid.UUID],
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Run the given jobs now, each until final (retries at once: no worker will come back)."""
    worker_id = default_worker_id("inline")
    policy = policy_from_settings(settings)
    for job_id in job_ids:
        while True:
            with engine.begin() as conn:
                job = claim_job(conn, job_id, worker_id)
            if job is None:
                break
            if run_job(engine, settings, job, worker_id, policy, sleep).status in FINAL:
                break


def work(
    engine: Engine,
    settings: Settings,
    *,
    worker_id: str | None = None,
    policy: JobPolicy | None = None,
    once: bool = False,
    max_jobs: int | None = None,
    poll_interval_s: float = 2.0,
    stop: threading.Event | None = None,
    on_job: Callable[[Job], None] | None = None,
) -> int:
    """The worker loop: recover stale jobs, claim one, run it; returns the attempts run.

    ``once`` stops when no job is due instead of polling; ``max_jobs`` stops after that many
    attempts; ``stop`` (an Event) ends the loop between jobs.
    """
    worker_id = worker_id or default_worker_id()
    policy = policy or policy_from_settings(settings)
    stop = stop or threading.Event()
    done = 0
    while not stop.is_set() and (max_jobs is None or done < max_jobs):
        with engine.begin() as conn:
            recover_stale(conn, policy.stale_after_s)
            job = claim_next(conn, worker_id)
        if job is None:
            if once:
                break
            stop.wait(poll_interval_s)
            continue
        finished = run_job(engine, settings, job, worker_id, policy)
        done += 1
        if on_job is not None:
            on_job(finished)
    return done
