"""``geoapi users ...``: users and their API tokens."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from geoapi.db import get_engine
from geoapi.errors import GeoAPIError
from geoapi.store.users import UserInfo, create_token, create_user, find_user

users_cli = AppGroup("users", help="Users and API tokens.")


def _get_or_create_user(session: Session, username: str) -> tuple[UserInfo, bool]:
    user = find_user(session, username)
    if user is not None:
        return user, False
    return create_user(session, username), True


@users_cli.command("create")
@click.argument("username")
@with_appcontext
def users_create(username: str) -> None:
    """Create a user (or a new token for an existing one); the token is on the last line."""
    with Session(get_engine()) as session:
        try:
            user, created = _get_or_create_user(session, username)
        except GeoAPIError as exc:
            raise click.ClickException(exc.detail) from None
        token = create_token(session, user.id)
        session.commit()
    click.echo(f"{'created user' if created else 'new token for user'} {user.username} ({user.id})")
    click.echo(token)
