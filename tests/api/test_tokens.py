"""Token lifecycle: a client revokes its own token; operators list and revoke from the CLI.
A revoked token answers 401 from the very next request."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient, FlaskCliRunner
from helpers import bearer
from sqlalchemy import Engine, text

MakeUser = Any
ME = "/api/v1/mapillary/account"  # any route that needs a token


def _status(client: FlaskClient, token: str) -> int:
    return client.get(ME, headers=bearer(token)).status_code


def test_a_client_revokes_the_token_it_holds(client: FlaskClient, make_user: MakeUser) -> None:
    _alice, token = make_user("alice")
    _alice2, other = make_user("bob")
    assert _status(client, token) == 200
    answer = client.delete("/api/v1/tokens/current", headers=bearer(token))
    assert answer.status_code == 204
    again = client.get(ME, headers=bearer(token))
    assert again.status_code == 401 and again.mimetype == "application/problem+json"
    assert "revoked" in again.get_json()["detail"]
    assert client.delete("/api/v1/tokens/current", headers=bearer(token)).status_code == 401
    assert _status(client, other) == 200  # another user's token is untouched
    assert client.delete("/api/v1/tokens/current").status_code == 401


def test_operators_list_and_revoke_tokens(
    client: FlaskClient, runner: FlaskCliRunner, make_user: MakeUser, engine: Engine
) -> None:
    _user, first = make_user("carol")
    second = runner.invoke(args=["users", "create", "carol"]).output.strip().splitlines()[-1]
    assert _status(client, first) == 200  # records its last use
    listing = runner.invoke(args=["tokens", "list", "carol"])
    assert listing.exit_code == 0, listing.output
    header, *rows = listing.output.strip().splitlines()
    assert header.split("\t") == ["id", "name", "created", "last_used", "revoked"]
    assert len(rows) == 2
    assert first not in listing.output and second not in listing.output  # never the tokens
    used = [row.split("\t") for row in rows if row.split("\t")[3] != "-"]
    assert len(used) == 1 and used[0][3].endswith("Z")  # only the first one was used
    token_id = used[0][0]
    revoked = runner.invoke(args=["tokens", "revoke", token_id])
    assert revoked.exit_code == 0 and token_id in revoked.output
    assert _status(client, first) == 401 and _status(client, second) == 200
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code != 0  # not live now
    assert runner.invoke(args=["tokens", "revoke", "not-an-id"]).exit_code != 0
    everything = runner.invoke(args=["users", "revoke", "carol"])
    assert everything.exit_code == 0 and "revoked 1 token(s)" in everything.output
    assert _status(client, second) == 401
    assert runner.invoke(args=["users", "revoke", "nobody"]).exit_code != 0
    with engine.connect() as conn:
        live = conn.execute(text("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL"))
        assert live.scalar_one() == 0


def test_last_use_is_recorded_at_most_once_a_minute(
    client: FlaskClient, make_user: MakeUser, engine: Engine
) -> None:
    _user, token = make_user("dave")
    assert _status(client, token) == 200
    with engine.connect() as conn:
        first = conn.execute(text("SELECT last_used_at FROM api_tokens")).scalar_one()
    assert first is not None
    assert _status(client, token) == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_used_at FROM api_tokens")).scalar_one() == first
        conn.execute(text("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes'"))
        conn.commit()
    assert _status(client, token) == 200
    with engine.connect() as conn:
        later = conn.execute(text("SELECT last_used_at FROM api_tokens")).scalar_one()
    assert later > first
