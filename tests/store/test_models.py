"""The typed models mirror the migrated schema: every table, column, type and nullability."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.dialects.postgresql.base import ischema_names

from geoapi.store.models import Base, Geometry

# Tables the migrations make that no store reads through a model.
UNMODELLED = {"schema_migrations", "spatial_ref_sys"}


@pytest.fixture(autouse=True)
def _reflect_geometry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let reflection name PostGIS's type (the app itself never reflects)."""
    monkeypatch.setitem(ischema_names, "geometry", Geometry)


def _type_name(column_type: object) -> str:
    name = type(column_type).__name__.upper()
    aliases = {"DOUBLE_PRECISION": "FLOAT", "DOUBLE": "FLOAT", "VARCHAR": "TEXT", "STRING": "TEXT"}
    aliases |= {"BYTEA": "LARGEBINARY", "INTEGER": "INTEGER", "TIMESTAMP": "TIMESTAMP"}
    aliases |= {"SMALLINT": "SMALLINTEGER"}
    return aliases.get(name, name)


def test_every_table_is_modelled(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names()) - UNMODELLED
    assert tables == set(Base.metadata.tables)


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_model_columns_match_the_database(engine: Engine, table: str) -> None:
    database = {column["name"]: column for column in inspect(engine).get_columns(table)}
    model = Base.metadata.tables[table].columns
    assert set(database) == {column.name for column in model}, table
    for column in model:
        found = database[column.name]
        assert found["nullable"] == column.nullable, f"{table}.{column.name} nullability"
        assert _type_name(found["type"]) == _type_name(column.type), f"{table}.{column.name}"
        if isinstance(column.type, Geometry):
            reflected = (found["type"].geometry_type.lower(), int(found["type"].srid))
            declared = (column.type.geometry_type.lower(), column.type.srid)
            assert reflected == declared, f"{table}.{column.name} geometry type and SRID"
