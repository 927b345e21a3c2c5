"""Alembic environment: the URL comes from the caller (gridmap.storage.migrate).

Autogenerate compares against :data:`gridmap.storage.schema.metadata`, the one
declaration of the schema (``alembic check`` finds no drift: tests/test_schema.py).
"""

from alembic import context
from sqlalchemy import create_engine, pool

from gridmap.storage.migrate import COMPARE_OPTIONS
from gridmap.storage.schema import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=metadata, **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=url, literal_binds=True, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
