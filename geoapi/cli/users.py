"""``geoapi users ...`` and ``geoapi tokens ...``: users and their API tokens."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from geoapi.db import get_engine
from geoapi.errors import GeoAPIError
from geoapi.fields import parse_uuid
from geoapi.store.users import (
    UserInfo,
    create_token,
    create_user,
    find_user,
    list_tokens,
    revoke_token,
    revoke_user_tokens,
)
from geoapi.times import format_timestamp

users_cli = AppGroup("users", help="Users and their API tokens.")
tokens_cli = AppGroup("tokens", help="API tokens: list and revoke.")


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


def _user_or_exit(session: Session, username: str) -> UserInfo:
    user = find_user(session, username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


@users_cli.command("revoke")
@click.argument("username")
@with_appcontext
def users_revoke(username: str) -> None:
    """Revoke every API token of a user (they answer 401 from the next request on)."""
    with Session(get_engine()) as session:
        user = _user_or_exit(session, username)
        count = revoke_user_tokens(session, user.id)
    click.echo(f"revoked {count} token(s) of {user.username} ({user.id})")


@tokens_cli.command("list")
@click.argument("username")
@with_appcontext
def tokens_list(username: str) -> None:
    """A user's tokens: id, name, created, last used, revoked (never the token itself)."""
    with Session(get_engine()) as session:
        user = _user_or_exit(session, username)
        tokens = list_tokens(session, user.id)
    click.echo("id\tname\tcreated\tlast_used\trevoked")
    for token in tokens:
        fields = (token.created_at, token.last_used_at, token.revoked_at)
        times = "\t".join(format_timestamp(value) or "-" for value in fields)
        click.echo(f"{token.id}\t{token.name}\t{times}")


@tokens_cli.command("revoke")
@click.argument("token_id")
@with_appcontext
def tokens_revoke(token_id: str) -> None:
    """Revoke one token by the id `geoapi tokens list` shows."""
    parsed = parse_uuid(token_id)
    if parsed is None:
        raise click.ClickException(f"{token_id!r} is not a token id (a UUID)")
    with Session(get_engine()) as session:
        if not revoke_token(session, parsed):
            raise click.ClickException(f"no live token {parsed}")
    click.echo(f"revoked token {parsed}")
