"""``geoapi worker``: run Mapillary import jobs taken from PostgreSQL until stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from geoapi.cli.serve import secret_or_exit
from geoapi.config import Settings
from geoapi.db import get_engine
from geoapi.mapillary.jobs import default_worker_id, policy_from_settings, work
from geoapi.mapillary.oauth import protect_logs
from geoapi.store.jobs import Job


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT finish the current job, then stop (only from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"signal {signum}: stopping after the current job", err=True)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs due now, then exit instead of polling.")
@click.option(
    "--max-jobs", type=click.IntRange(min=1), default=None, help="Exit after this many attempts."
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Seconds to wait when no job is due.",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds after which a running job is taken as crashed and queued again [900].",
)
@click.option("--worker-id", default=None, help="Name recorded as the lock holder.")
@with_appcontext
def worker_command(
    once: bool,
    max_jobs: int | None,
    poll_interval: float,
    stale_after: float | None,
    worker_id: str | None,
) -> None:
    """Take Mapillary import jobs from the database (FOR UPDATE SKIP LOCKED) and run them."""
    settings: Settings = current_app.config["GEOAPI"]
    secret_or_exit(settings)  # the stored Mapillary tokens are encrypted with it
    protect_logs()
    policy = policy_from_settings(settings)
    if stale_after is not None:
        policy = replace(policy, stale_after_s=stale_after)
    worker_id = worker_id or default_worker_id()
    counts: dict[str, int] = {}

    def report(job: Job) -> None:
        counts[job.status] = counts.get(job.status, 0) + 1
        reason = f": {job.reason}" if job.reason and job.status != "imported" else ""
        click.echo(f"job {job.id} {job.sequence_key} {job.status}{reason}")

    stop = threading.Event()
    with _stop_on_signals(stop):
        done = work(
            get_engine(),
            settings,
            worker_id=worker_id,
            policy=policy,
            once=once,
            max_jobs=max_jobs,
            poll_interval_s=poll_interval,
            stop=stop,
            on_job=report,
        )
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    click.echo(f"worker {worker_id}: {done} attempt(s) run ({summary})")
