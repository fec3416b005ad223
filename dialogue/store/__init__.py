"""The store: SQLAlchemy tables, engine/session set-up, migrations and repositories."""
