"""PostgreSQL: versioned migrations (yoyo-migrations) and connections (psycopg 3)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, urlencode, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

from leap.connections import database_conninfo
from leap.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


def _yoyo_url(settings: Settings) -> str:
    # yoyo's plain "postgresql" scheme means psycopg2; LEAP uses psycopg 3. Every libpq
    # parameter (password, sslmode...) goes in the query, which yoyo hands to psycopg as is.
    params = conninfo_to_dict(database_conninfo(settings))
    database = params.pop("dbname", "")
    return urlunsplit(("postgresql+psycopg", "", "/" + quote(str(database)), urlencode(params), ""))


def migrate(settings: Settings) -> list[str]:
    """Apply every migration not yet applied, in order, under yoyo's lock; return their ids."""
    logging.getLogger("yoyo").setLevel(logging.WARNING)  # a line per SQL statement otherwise
    backend = get_backend(_yoyo_url(settings))
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def applied(settings: Settings) -> list[str]:
    """Ids of the migrations applied to the database."""
    backend = get_backend(_yoyo_url(settings))
    return [m.id for m in read_migrations(str(MIGRATIONS)) if backend.is_applied(m)]


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose rows are dicts."""
    return psycopg.connect(database_conninfo(settings), row_factory=dict_row, autocommit=autocommit, connect_timeout=5)


def empty(settings: Settings) -> list[str]:
    """Empty every LEAP table (``leap reset``), keeping the schema and its migrations; return the tables."""
    with connect(settings, autocommit=True) as conn:
        tables = [r["tablename"] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE %s ORDER BY tablename",
            ("%yoyo%",),
        )]  # fmt: skip
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    return tables
