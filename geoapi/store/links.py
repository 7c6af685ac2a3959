"""Mapillary account links in progress (``mapillary_link_attempts``): started, then claimed once.

A link attempt binds a random OAuth ``state`` to the user who started it and to a secret held
by the browser that started it. Only digests of both are stored; claiming one marks it used in
the same statement that checks it, so a state works once, within its lifetime, in its browser.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from geoapi.config import Settings
from geoapi.crypto import decrypt, encrypt
from geoapi.store import transaction
from geoapi.store.models import MapillaryLinkAttempt as Attempt

# Why a claim failed: no such state (never issued, forged), too old, used already, or it was
# started in another browser.
Refusal = Literal["unknown", "expired", "used", "other_browser"]


class LinkRefusedError(Exception):
    """A callback that may not complete a link; ``reason`` says which rule it broke."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


@dataclass(frozen=True)
class ClaimedLink:
    user_id: uuid.UUID
    code_verifier: str = field(repr=False)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def start_link(
    session: Session,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    state: str,
    browser_secret: str,
    code_verifier: str,
    lifetime_s: int,
) -> None:
    """Record a login that ``user_id`` started, in one transaction (old attempts go too)."""
    with transaction(session):
        session.execute(delete(Attempt).where(Attempt.expires_at < func.now() - timedelta(days=1)))
        session.execute(
            insert(Attempt).values(
                state_hash=digest(state),
                user_id=user_id,
                browser_hash=digest(browser_secret),
                code_verifier_encrypted=encrypt(settings, code_verifier),
                expires_at=func.now() + timedelta(seconds=lifetime_s),
            )
        )


def claim_link(
    session: Session, settings: Settings, *, state: str, browser_secret: str | None
) -> ClaimedLink:
    """Use up the attempt ``state`` names, if this browser started it and it is still fresh;
    LinkRefusedError otherwise. One transaction; a second claim of the same state fails."""
    state_hash = digest(state)
    with transaction(session):
        claimed = (
            session.execute(
                update(Attempt)
                .where(
                    Attempt.state_hash == state_hash,
                    Attempt.browser_hash == digest(browser_secret or ""),
                    Attempt.used_at.is_(None),
                    Attempt.expires_at > func.now(),
                )
                .values(used_at=func.now())
                .returning(Attempt.user_id, Attempt.code_verifier_encrypted)
            ).one_or_none()
            if browser_secret
            else None
        )
        if claimed is not None:
            return ClaimedLink(claimed.user_id, decrypt(settings, claimed.code_verifier_encrypted))
        found = session.execute(
            select(Attempt.used_at, Attempt.expires_at < func.now()).where(
                Attempt.state_hash == state_hash
            )
        ).one_or_none()
    if found is None:
        raise LinkRefusedError("unknown")
    used_at, expired = found
    if used_at is not None:
        raise LinkRefusedError("used")
    if expired:
        raise LinkRefusedError("expired")
    raise LinkRefusedError("other_browser")
