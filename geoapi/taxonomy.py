"""Transport types (a two-level tree) and tags: normalising names and resolving them to ids.

Pure rules; the tree itself is loaded by ``geoapi.store.taxonomy.load_transport_types``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

TAG_RE = re.compile(r"^[a-z0-9-]{1,64}$")
# What a query may carry, as the OpenAPI document states it (ECMA regexes, matched whole here):
# a tag prefix (any case, trimmed and lower-cased to match), and a tag filter value
# (comma-separated tags).
TAG_PREFIX_PATTERN = r"^\s*[A-Za-z0-9-]{0,64}\s*$"
TAG_QUERY_PATTERN = r"^(?:[A-Za-z0-9-]{1,64}(?:,[A-Za-z0-9-]{1,64})*)?$"
MAX_TAGS = 50


class TaxonomyError(ValueError):
    """A transport type or tag that cannot be used; the message names the offending value."""


def normalize_tag(raw: object) -> str:
    """Trim and lowercase one tag; raise TaxonomyError rather than silently dropping it."""
    if not isinstance(raw, str):
        raise TaxonomyError(f"tag {raw!r} is not a string")
    tag = raw.strip().lower()
    if not TAG_RE.match(tag):
        raise TaxonomyError(f"tag {raw!r} must be 1-64 characters of a-z, 0-9 and '-'")
    return tag


def tag_query(raw: str) -> tuple[str, ...]:
    """One tag filter value of a query (``a,b``; empty: none) → lower-cased tags; TaxonomyError
    for anything :data:`TAG_QUERY_PATTERN` refuses (no spaces, no empty parts)."""
    if not re.fullmatch(TAG_QUERY_PATTERN, raw):
        raise TaxonomyError(
            f"tag {raw[:64]!r} must be comma-separated tags of 1-64 characters a-z, 0-9 and '-'"
        )
    return tuple(part.lower() for part in raw.split(",") if part)


def normalize_tags(raw: object) -> tuple[str, ...]:
    """A list (or comma-separated string) of tags → unique normalised tags, in first-seen order."""
    if raw is None:
        return ()
    if isinstance(raw, str):
        items: Iterable[object] = [part for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        raise TaxonomyError("tags must be a list of strings or a comma-separated string")
    tags = tuple(dict.fromkeys(normalize_tag(item) for item in items))
    if len(tags) > MAX_TAGS:
        raise TaxonomyError(f"at most {MAX_TAGS} tags are allowed, got {len(tags)}")
    return tags


@dataclass(frozen=True)
class TransportTypes:
    """The transport type tree, loaded once per request or import run."""

    leaves: dict[str, int]  # lower-case leaf name or alias → id
    names: dict[int, str]  # id → display name
    parents: dict[int, int | None]  # id → parent id

    def leaf_id(self, name: object) -> int:
        """The leaf a sequence may take; a parent name (other than an alias) is refused."""
        if not isinstance(name, str) or not name.strip():
            raise TaxonomyError("transport_type must be a non-empty string")
        key = name.strip().lower()
        if key in self.leaves:
            return self.leaves[key]
        if any(n.lower() == key for n in self.names.values()):
            raise TaxonomyError(
                f"transport type {name!r} is a category; choose one of its types, e.g. "
                + ", ".join(sorted(self.children_names(key))[:5])
            )
        raise TaxonomyError(f"unknown transport type {name!r}")

    def children_names(self, parent_lower: str) -> list[str]:
        parent_ids = [i for i, n in self.names.items() if n.lower() == parent_lower]
        return [n for i, n in self.names.items() if self.parents[i] in parent_ids]

    def filter_ids(self, name: str) -> list[int]:
        """Ids matching a filter by name: a parent includes its children; aliases count."""
        key = name.strip().lower()
        ids = {i for i, n in self.names.items() if n.lower() == key}
        if key in self.leaves:
            ids.add(self.leaves[key])
        ids |= {i for i, parent in self.parents.items() if parent in ids}
        if not ids:
            raise TaxonomyError(f"unknown transport type {name!r}")
        return sorted(ids)

    def path(self, type_id: int | None) -> tuple[str | None, str | None]:
        """(parent name, leaf name) for display."""
        if type_id is None:
            return None, None
        parent = self.parents.get(type_id)
        return (self.names[parent] if parent else None), self.names.get(type_id)
