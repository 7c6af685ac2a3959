"""Linked Mapillary accounts as rows: tokens Fernet-encrypted at rest (``geoapi.crypto``).

Tokens are encrypted before they reach ``mapillary_accounts`` and decrypted only here, into a
:class:`LinkedAccount` whose tokens stay out of its repr; they are never logged or returned.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.config import Settings
from geoapi.crypto import decrypt, encrypt
from geoapi.store import transaction
from geoapi.store.models import MapillaryAccount

Conn = Connection | Session
# Plain columns, so a Connection and a Session read the same rows.
_SELECT = select(*MapillaryAccount.__table__.columns)


@dataclass(frozen=True)
class AccountLink:
    """Which Mapillary account a user linked, through which API, until when: no tokens."""

    user_id: uuid.UUID
    mapillary_user_key: str | None
    mapillary_username: str | None
    api_version: str
    expires_at: datetime | None
    linked_at: datetime


@dataclass(frozen=True)
class LinkedAccount(AccountLink):
    """A linked account with its decrypted tokens (kept out of repr)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False, default=None)


def save_account(
    session: Session,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    mapillary_user_key: str,
    mapillary_username: str,
    api_version: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
) -> None:
    """Link (or re-link) ``user_id`` to a Mapillary account, in one transaction."""
    values = {
        "mapillary_user_key": mapillary_user_key,
        "mapillary_username": mapillary_username,
        "api_version": api_version,
        "access_token_encrypted": encrypt(settings, access_token),
        "refresh_token_encrypted": encrypt(settings, refresh_token) if refresh_token else None,
        "expires_at": expires_at,
    }
    statement = insert(MapillaryAccount).values(user_id=user_id, **values)
    with transaction(session):
        session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))


def load_account(
    conn: Conn, settings: Settings, user_id: uuid.UUID, *, lock: bool = False
) -> LinkedAccount | None:
    """The account as stored (maybe expired), or None; ``lock`` holds its row FOR UPDATE.

    ``geoapi.crypto.DecryptionError`` when the stored tokens cannot be read (the key changed).
    """
    query = _SELECT.where(MapillaryAccount.user_id == user_id)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        return None
    refresh = row.refresh_token_encrypted
    return LinkedAccount(
        **asdict(_link(row)),
        access_token=decrypt(settings, row.access_token_encrypted),
        refresh_token=decrypt(settings, refresh) if refresh is not None else None,
    )


def load_link(conn: Conn, user_id: uuid.UUID) -> AccountLink | None:
    """The user's link without decrypting anything (it shows even when the key changed)."""
    row = conn.execute(_SELECT.where(MapillaryAccount.user_id == user_id)).one_or_none()
    return None if row is None else _link(row)


def _link(row: Any) -> AccountLink:
    return AccountLink(
        user_id=row.user_id,
        mapillary_user_key=row.mapillary_user_key,
        mapillary_username=row.mapillary_username,
        api_version=row.api_version,
        expires_at=row.expires_at,
        linked_at=row.updated_at,
    )


def save_tokens(
    conn: Conn,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
) -> None:
    """Store refreshed tokens of a linked account, in the caller's transaction."""
    conn.execute(
        update(MapillaryAccount)
        .where(MapillaryAccount.user_id == user_id)
        .values(
            access_token_encrypted=encrypt(settings, access_token),
            refresh_token_encrypted=encrypt(settings, refresh_token) if refresh_token else None,
            expires_at=expires_at,
        )
    )


def delete_account(session: Session, user_id: uuid.UUID) -> bool:
    """Forget the user's Mapillary tokens, in one transaction; whether there were any."""
    with transaction(session):
        deleted = session.execute(
            delete(MapillaryAccount)
            .where(MapillaryAccount.user_id == user_id)
            .returning(MapillaryAccount.user_id)
        ).first()
    return deleted is not None
