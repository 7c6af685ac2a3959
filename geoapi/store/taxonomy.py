"""Transport types and tags in the database: the tree, tag links, tag counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, delete, literal, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geoapi.store import read_sql
from geoapi.store.models import Tag, TransportType, sequence_tags, tour_tags
from geoapi.taxonomy import TransportTypes

Conn = Connection | Session
# The tables that link tags to what carries them, by the column naming the carrier.
TAG_LINKS: dict[str, tuple[Table, str]] = {
    "sequence": (sequence_tags, "sequence_id"),
    "tour": (tour_tags, "tour_id"),
}


def load_transport_types(conn: Conn) -> TransportTypes:
    """The transport type tree (it only changes with a migration: callers may cache it)."""
    rows = conn.execute(
        select(TransportType.id, TransportType.parent_id, TransportType.name, TransportType.aliases)
    ).all()
    child_parents = {row.parent_id for row in rows if row.parent_id is not None}
    leaves: dict[str, int] = {}
    for row in rows:
        if row.id in child_parents:
            continue
        leaves[row.name.lower()] = row.id
        for alias in row.aliases:
            leaves[alias.lower()] = row.id
    return TransportTypes(
        leaves=leaves,
        names={row.id: row.name for row in rows},
        parents={row.id: row.parent_id for row in rows},
    )


def transport_type_tree(conn: Conn) -> list[dict[str, Any]]:
    """Categories in seed order, each with its leaf types (``aliases`` are accepted names)."""
    rows = conn.execute(
        select(
            TransportType.id, TransportType.parent_id, TransportType.name, TransportType.aliases
        ).order_by(TransportType.id)
    ).all()
    parents: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.parent_id is None:
            parents[row.id] = {"id": row.id, "name": row.name, "children": []}
    for row in rows:
        if row.parent_id is not None and row.parent_id in parents:
            parents[row.parent_id]["children"].append(
                {"id": row.id, "name": row.name, "aliases": list(row.aliases)}
            )
    return list(parents.values())


def replace_tags(conn: Conn, carrier: str, carrier_id: object, tags: Iterable[str]) -> None:
    """Replace the tags of a sequence or tour (``carrier``) with ``tags`` (already normalised),
    creating missing tags. Runs in the caller's transaction."""
    link, column = TAG_LINKS[carrier]
    names = list(tags)
    conn.execute(delete(link).where(link.c[column] == carrier_id))
    if not names:
        return
    conn.execute(insert(Tag).values([{"name": name} for name in names]).on_conflict_do_nothing())
    conn.execute(
        link.insert().from_select(
            [column, "tag_id"],
            select(literal(carrier_id, link.c[column].type), Tag.id).where(Tag.name.in_(names)),
        )
    )


def tag_counts(conn: Conn, prefix: str | None, limit: int) -> list[dict[str, Any]]:
    """Tags with the number of published sequences carrying each, most used first."""
    rows = conn.execute(text(read_sql("sequence_tag_counts")), {"prefix": prefix, "limit": limit})
    return [{"name": row.name, "count": row.count} for row in rows]
