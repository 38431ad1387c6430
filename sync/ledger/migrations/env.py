"""Alembic environment: run against the connection the bridge hands over."""

from alembic import context

from sync.ledger.tables import metadata

connection = context.config.attributes["connection"]


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    # The internal tables may share the database: never let autogenerate touch them.
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return (name if type_ == "table" else getattr(table, "name", "pb_")).startswith("pb_")


context.configure(connection=connection, target_metadata=metadata, version_table="pb_alembic_version",
                  render_as_batch=connection.dialect.name == "sqlite", include_object=_ours)
with context.begin_transaction():
    context.run_migrations()
