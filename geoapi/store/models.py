"""Typed SQLAlchemy 2 models mirroring ``sql/migrations``; they never create the schema.

The stores use them for plain CRUD (users, tokens, likes, tours, tags, Mapillary accounts,
jobs) with SQLAlchemy Core statements; SQL files stay where the SQL is the point (tiles,
features, the bulk import). ``tests/store/test_models.py`` checks that every table and column
here matches the migrated database, so the two cannot drift apart.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BIGINT,
    Boolean,
    Column,
    Computed,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import UserDefinedType

TIMESTAMPTZ = TIMESTAMP(timezone=True)


class Geometry(UserDefinedType[Any]):
    """A PostGIS column of one geometry type and SRID, e.g. ``geometry(LineString, 4326)``.

    Only declared, never converted: geometry work happens in SQL (``store/sql/*.sql``), and no
    store reads a geometry through a model. (GeoAlchemy2 would give the same declaration at
    25-35 MB per process: it imports shapely and numpy where they are installed.)
    """

    cache_ok = True

    def __init__(self, geometry_type: str, srid: int) -> None:
        self.geometry_type = geometry_type
        self.srid = srid

    def get_col_spec(self, **_kw: Any) -> str:
        return f"geometry({self.geometry_type}, {self.srid})"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: TIMESTAMPTZ, uuid.UUID: UUID(as_uuid=True)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default="gen_random_uuid()")
    username: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default="gen_random_uuid()")
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(Text, server_default="default")
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class MapillaryAccount(Base):
    __tablename__ = "mapillary_accounts"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    mapillary_user_key: Mapped[str | None] = mapped_column(Text)
    mapillary_username: Mapped[str | None] = mapped_column(Text)
    api_version: Mapped[str] = mapped_column(Text, server_default="v4")
    access_token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None]
    scope: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(server_default="now()")


class MapillaryLinkAttempt(Base):
    __tablename__ = "mapillary_link_attempts"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary)
    code_verifier_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TransportType(Base):
    __tablename__ = "transport_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("transport_types.id"))
    name: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")

    parent: Mapped[TransportType | None] = relationship(remote_side="TransportType.id")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


sequence_tags = Table(
    "sequence_tags",
    Base.metadata,
    Column("sequence_id", ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)

tour_tags = Table(
    "tour_tags",
    Base.metadata,
    Column("tour_id", ForeignKey("tours.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


def _generalised(tolerance: str) -> Any:
    """A generated SRID 3857 copy of ``geom`` simplified to ``tolerance`` metres (a pixel of a
    512-pixel tile at the zoom it serves), as migration 0008 defines it."""
    return mapped_column(
        Geometry("LineString", 3857),
        Computed(f"ST_Simplify(ST_Transform(geom, 3857), {tolerance}, true)", persisted=True),
        nullable=True,
    )


class Sequence(Base):
    __tablename__ = "sequences"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default="time_ordered_uuid()")
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mapillary_key: Mapped[str | None] = mapped_column(Text, unique=True)
    mapillary_user_key: Mapped[str | None] = mapped_column(Text)
    mapillary_username: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    transport_type_id: Mapped[int | None] = mapped_column(ForeignKey("transport_types.id"))
    camera_make: Mapped[str | None] = mapped_column(Text)
    captured_at: Mapped[datetime | None]
    mapillary_created_at: Mapped[datetime | None]
    pano: Mapped[bool] = mapped_column(server_default="false")
    source: Mapped[str] = mapped_column(Text, server_default="geojson")
    status: Mapped[str] = mapped_column(Text, server_default="published")
    # SRID 4326 lon/lat; one-photo sequences are a zero-length two-point line.
    geom: Mapped[Any] = mapped_column(Geometry("LineString", 4326), nullable=True)
    geom_3857: Mapped[Any] = mapped_column(
        Geometry("LineString", 3857),
        Computed("ST_Transform(geom, 3857)", persisted=True),
        nullable=True,
    )
    # The overview band's point (z0-5): the middle of the line, SRID 3857.
    overview_3857: Mapped[Any] = mapped_column(
        Geometry("Point", 3857),
        Computed("ST_Transform(ST_LineInterpolatePoint(geom, 0.5), 3857)", persisted=True),
        nullable=True,
    )
    # The line generalised for the tiles of z6-8, z9-11 and z12-13 (migration 0008).
    geom_z8: Mapped[Any] = _generalised("305.74811309")
    geom_z11: Mapped[Any] = _generalised("38.21851414")
    geom_z13: Mapped[Any] = _generalised("9.55462853")
    photo_count: Mapped[int] = mapped_column(server_default="0")
    length_m: Mapped[float] = mapped_column(server_default="0")
    like_count: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(server_default="now()")

    owner: Mapped[User] = relationship()
    transport_type: Mapped[TransportType | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=sequence_tags, order_by="Tag.name")
    photos: Mapped[list[Photo]] = relationship(
        back_populates="sequence", order_by="Photo.position", passive_deletes=True
    )


_THIN = " ".join(f"WHEN position % {2**c} = 0 THEN {c}" for c in range(7, 0, -1)).join(
    ("CASE ", " ELSE 0 END")
)
_TX17 = "least(greatest(floor((ST_X(geom) + 180.0) / 360.0 * 131072), 0), 131071)::integer"
_LAT = "radians(least(greatest(ST_Y(geom), -85.0511287798), 85.0511287798))"
_TY17 = (
    f"least(greatest(floor((1.0 - ln(tan({_LAT}) + 1.0 / cos({_LAT})) / pi()) / 2.0 * 131072),"
    " 0), 131071)::integer"
)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default="time_ordered_uuid()")
    sequence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    image_key: Mapped[str] = mapped_column(Text, unique=True)
    position: Mapped[int]
    ca: Mapped[float | None]
    captured_at: Mapped[datetime | None]
    geom: Mapped[Any] = mapped_column(Geometry("Point", 4326))
    geom_3857: Mapped[Any] = mapped_column(
        Geometry("Point", 3857),
        Computed("ST_Transform(geom, 3857)", persisted=True),
        nullable=True,
    )
    # Photo tiles (migration 0008): the thinning class (how often 2 divides the position, at
    # most 7) and the z17 tile column and row of the point.
    thin: Mapped[int] = mapped_column(SmallInteger, Computed(_THIN, persisted=True))
    tx17: Mapped[int] = mapped_column(Computed(_TX17, persisted=True))
    ty17: Mapped[int] = mapped_column(Computed(_TY17, persisted=True))

    sequence: Mapped[Sequence] = relationship(back_populates="photos")


class Like(Base):
    __tablename__ = "likes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class Tour(Base):
    __tablename__ = "tours"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default="gen_random_uuid()")
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(server_default="now()")

    owner: Mapped[User] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=tour_tags, order_by="Tag.name")


class TourSequence(Base):
    __tablename__ = "tour_sequences"

    tour_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tours.id", ondelete="CASCADE"), primary_key=True
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int]


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default="gen_random_uuid()")
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    sequence_key: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    sequence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sequences.id", ondelete="SET NULL")
    )
    target_sequence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE")
    )
    attempts: Mapped[int] = mapped_column(server_default="0")
    max_attempts: Mapped[int] = mapped_column(server_default="3")
    run_after: Mapped[datetime] = mapped_column(server_default="now()")
    locked_at: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(server_default="now()")
    finished_at: Mapped[datetime | None]


class DataVersion(Base):
    """The one row holding the data version (``geoapi.store.versions``), set by triggers."""

    __tablename__ = "data_version"

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    version: Mapped[int] = mapped_column(BIGINT)


class OverviewCell(Base):
    """The newest published sequence of an overview cell (z0-5 tiles; migration 0008)."""

    __tablename__ = "overview_cells"

    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cy: Mapped[int] = mapped_column(primary_key=True)
    cx: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[uuid.UUID]
    captured_at: Mapped[datetime | None]
    pano: Mapped[bool]
    geom: Mapped[Any] = mapped_column(Geometry("Point", 3857))


# The published sequences each z6-16 tile shows, in the order it keeps them (migration 0008);
# no key but its unique order index.
line_tiles = Table(
    "line_tiles",
    Base.metadata,
    Column("z", SmallInteger, nullable=False),
    Column("x", Integer, nullable=False),
    Column("y", Integer, nullable=False),
    Column("captured_at", TIMESTAMPTZ),
    Column("sequence_id", UUID(as_uuid=True), nullable=False),
)


class TileArea(Base):
    """The data version of the last commit that changed an area's tiles (z0-8 areas; z -1 is
    the floor every write raises; migration 0008)."""

    __tablename__ = "tile_areas"

    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    x: Mapped[int] = mapped_column(primary_key=True)
    y: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BIGINT)


# The tile work of transactions in flight, applied at their commit (unlogged; migration 0008).
pending_tile_work = Table(
    "pending_tile_work",
    Base.metadata,
    Column("txid", BIGINT, nullable=False, server_default=text("txid_current()")),
    Column("sequence_id", UUID(as_uuid=True)),
    Column("offer", Boolean, nullable=False, server_default=text("false")),
    Column("rechoose", Boolean, nullable=False, server_default=text("false")),
    Column("everywhere", Boolean, nullable=False, server_default=text("false")),
    Column("west", Float),
    Column("south", Float),
    Column("east", Float),
    Column("north", Float),
)
