"""Every PostgreSQL table about a student is exported and erased, children before parents."""

from __future__ import annotations

import re
from pathlib import Path

from consumers.protection.tables import (
    BY_NAME,
    DELETE,
    HOW,
    KEEP,
    PSEUDONYMISE,
    TABLES,
    erased_tables,
)

MIGRATIONS = Path(__file__).resolve().parents[3] / "consumers" / "migrations"


def _schema() -> str:
    return "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("*.sql")) if not p.name.endswith(".rollback.sql"))


def _columns_by_table() -> dict[str, str]:
    """Each table's CREATE TABLE body plus every ALTER TABLE ... ADD COLUMN on it, as text."""
    found: dict[str, str] = {}
    schema = _schema()
    for match in re.finditer(r"CREATE TABLE (\w+) \((.*?)\n\);", schema, re.DOTALL):
        found[match[1]] = match[2]
    for match in re.finditer(r"ALTER TABLE (\w+) (ADD COLUMN[^;]*);", schema):
        found[match[1]] = found.get(match[1], "") + "\n" + match[2]
    return found


def test_the_migrations_are_read():
    tables = _columns_by_table()
    assert {"students", "notes", "access_log", "alert_updates", "staff", "erasures"} <= set(tables)
    assert "left_on" in tables["students"]


def test_every_table_with_a_student_id_or_an_alert_reference_is_covered():
    tables = _columns_by_table()
    about_students = {name for name, body in tables.items() if re.search(r"\bstudent_id\b", body) or "REFERENCES alerts" in body}
    assert about_students - set(BY_NAME) == set(), "add the table to consumers/protection/tables.py"
    assert set(BY_NAME) - set(tables) == set(), "a table listed there does not exist"


def test_every_table_referencing_another_is_erased_before_it():
    tables = _columns_by_table()
    order = [t.name for t in erased_tables()]
    for name in order:
        for parent in re.findall(r"REFERENCES (\w+)", tables[name]):
            if parent in order:
                assert order.index(name) < order.index(parent), (name, parent)


def test_only_the_access_log_is_pseudonymised_and_only_the_staff_directory_kept():
    assert {t.name: t.how for t in TABLES if t.how != DELETE} == {"access_log": PSEUDONYMISE, "staff": KEEP}
    assert set(HOW) == {"access_log", "staff"}


def test_every_query_is_about_one_student_and_has_a_plain_description():
    for table in TABLES:
        assert "%(s)s" in table.where and table.select().startswith(f"SELECT * FROM {table.name} WHERE")
        assert table.delete() == f"DELETE FROM {table.name} WHERE {table.where}"
        assert table.description.endswith(".") and "student_id" not in table.description
