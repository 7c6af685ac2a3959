"""The typed models mirror the migrated schema: every table, column, type and nullability."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect

from geoapi.store.models import Base

# Tables the migrations make that no store reads through a model.
UNMODELLED = {"schema_migrations", "spatial_ref_sys"}


def _type_name(column_type: object) -> str:
    name = type(column_type).__name__.upper()
    aliases = {"DOUBLE_PRECISION": "FLOAT", "DOUBLE": "FLOAT", "VARCHAR": "TEXT", "STRING": "TEXT"}
    aliases |= {"BYTEA": "LARGEBINARY", "INTEGER": "INTEGER", "TIMESTAMP": "TIMESTAMP"}
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
        if column.name.startswith(("geom", "overview")):
            continue  # PostGIS geometry: reflected as NullType without geoalchemy2's reflection
        assert _type_name(found["type"]) == _type_name(column.type), f"{table}.{column.name}"
