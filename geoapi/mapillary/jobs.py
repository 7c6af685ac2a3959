"""Running Mapillary import jobs: one attempt, retries with backoff, the worker loop.

A transient upstream failure (429, 5xx, timeout, no connection, after the client's own
retries) sends a job back to ``queued`` with an exponential ``run_after`` until
``max_attempts``. A job whose worker died stays ``running`` until its lock is older than
``stale_after_s``, then is queued again (or failed once its attempts are spent). The sequence
itself is written in one transaction by the importer, so a failed or interrupted attempt
leaves nothing behind and a repeated one finds ``exists``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from geoapi.config import Settings
from geoapi.mapillary.accounts import (
    AccountError,
    active_account,
    open_source,
    owns_sequence,
    with_session,
)
from geoapi.mapillary.errors import (
    MapillaryAuthError,
    MapillaryConnectionError,
    MapillaryError,
    MapillaryHTTPError,
    MapillaryNotFoundError,
    MapillaryResponseError,
    MapillaryTimeoutError,
)
from geoapi.mapillary.http import redact
from geoapi.store.accounts import LinkedAccount
from geoapi.store.importer import import_feature_collection
from geoapi.store.jobs import (
    FINAL,
    Job,
    claim_job,
    claim_next,
    finish_job,
    get_job,
    recover_stale,
)
from geoapi.validation import ImportOptions

log = logging.getLogger(__name__)


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


def _failure(exc: MapillaryError, key: str, *tokens: str) -> Attempt:
    """Map a client error onto the attempt's outcome; the reason never holds a token."""
    text_ = redact(str(exc), tokens)
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
    """Fetch the job's sequence from Mapillary with the owner's account and import it (an
    expired Mapillary session is refreshed once and the fetch retried)."""
    used: list[LinkedAccount] = []

    def renew(stale: str | None) -> LinkedAccount:
        with engine.begin() as conn:
            used.append(active_account(conn, settings, job.user_id, stale_token=stale))
        return used[-1]

    def fetch(account: LinkedAccount) -> dict[str, Any]:
        with open_source(settings, account.api_version, sleep or time.sleep) as source:
            return source.get_sequence(account.access_token, job.sequence_key)

    try:
        feature = with_session(renew, fetch)
    except AccountError as exc:
        return Attempt("failed", str(exc))
    except MapillaryError as exc:
        return _failure(exc, job.sequence_key, *(a.access_token for a in used))
    account = used[-1]
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
