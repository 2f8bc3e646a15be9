"""PostgreSQL roles per component (migration 0009 and post-apply.sql), tried as each component.

Each test logs in as a member of one role, created the way docs/operations.md tells an
administrator to, and does what that component does and what it must not: a forbidden write
is refused by PostgreSQL itself, not by LEAP's code.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from leap.connections import database_conninfo
from tests.integration.conftest import run_leap
from tests.integration.workers import Deployment

ROLES = ("leap_consumer", "leap_portal", "leap_reporting")


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    deployment.with_database()
    with admin(deployment) as conn:
        conn.execute(
            """INSERT INTO students (student_id, programme, year_of_study, mode_of_study, personal_tutor, department, status)
               VALUES ('s1', 'BA-HIST', 1, 'full_time', 'tutor-a', 'History', 'active')"""
        )
        conn.execute("INSERT INTO staff (user_id, roles) VALUES ('tutor-a', '{personal_tutor}'), ('ops', '{admin}')")
    yield deployment
    for login in getattr(deployment, "logins", []):
        with admin(deployment) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(login)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
    deployment.close()


def admin(deployment: Deployment) -> psycopg.Connection:
    return psycopg.connect(database_conninfo(deployment.settings), autocommit=True)


def login_as(deployment: Deployment, role: str) -> str:
    """A new login in ``role`` (as an administrator makes one); its connection string."""
    login, password = f"{role}_{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(16)
    with admin(deployment) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(sql.Identifier(login), sql.Literal(password), sql.Identifier(role)))
    deployment.__dict__.setdefault("logins", []).append(login)
    return make_conninfo(database_conninfo(deployment.settings), user=login, password=password)


def refused(conninfo: str, statement: str) -> bool:
    """True when PostgreSQL refuses the statement for lack of privilege."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def as_url(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    return f"postgresql://{params['user']}:{params['password']}@{params['host']}:{params['port']}/{params['dbname']}"


def _alert(deployment: Deployment) -> str:
    alert = str(uuid.uuid4())
    with admin(deployment) as conn:
        conn.execute(
            """INSERT INTO alerts (alert_id, student_id, kind, episode, status, recipient, recipient_role, day, band, reason, raised_at)
               VALUES (%s, 's1', 'drop', 'e1', 'new', 'tutor-a', 'personal_tutor', %s, 'low', 'band fell to Low', now())""",
            (alert, date.today()),
        )
    return alert


BAND_CHANGE = (
    "INSERT INTO band_changes (change_id, student_id, cohort, previous_band, new_band, as_of, cause, day, explanation) "
    "VALUES (gen_random_uuid(), 's1', 'BA-HIST/1', 'good', 'very_low', now(), 'activity', current_date, '{}')"
)


def test_the_migrations_create_the_roles_and_grant_them_again_after_every_migration(deployment):
    with admin(deployment) as conn:
        found = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND NOT rolcanlogin", (list(ROLES),))}
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%%yoyo%%'")}
        readable = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.role_table_grants WHERE grantee = 'leap_portal' AND privilege_type = 'SELECT'")}
    assert found == set(ROLES)
    assert readable == tables  # every table, including the newest migration's


def test_the_portal_role_writes_only_its_records(deployment):
    portal = login_as(deployment, "leap_portal")
    env = {**deployment.env, "LEAP_DATABASE_URL": as_url(portal)}
    # What the portal does, through the same records functions, as a member of leap_portal.
    assert run_leap(env, "notes", "add", "s1", "Missed both seminars", "--as", "tutor-a", "--json").returncode == 0
    alert = _alert(deployment)
    assert run_leap(env, "alerts", "ack", alert, "--as", "ops", "--json").returncode == 0
    # What it must not: the engine's record of engagement, the roster, an alert's content.
    assert refused(portal, BAND_CHANGE)
    assert refused(portal, "UPDATE students SET personal_tutor = 'tutor-b' WHERE student_id = 's1'")
    assert refused(portal, f"UPDATE alerts SET reason = 'edited' WHERE alert_id = '{alert}'")
    assert refused(portal, "DELETE FROM notes")
    assert refused(portal, "DELETE FROM access_log")


def test_the_consumer_role_cannot_touch_staff_records_and_reporting_cannot_write_or_read_them(deployment):
    consumer, reporting = login_as(deployment, "leap_consumer"), login_as(deployment, "leap_reporting")
    assert refused(consumer, "INSERT INTO notes (student_id, author, body) VALUES ('s1', 'x', 'y')")
    assert refused(consumer, "UPDATE referrals SET consent_to_contact = true")
    assert not refused(consumer, BAND_CHANGE)

    with psycopg.connect(reporting, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM band_changes").fetchone()[0] == 1
    assert refused(reporting, BAND_CHANGE)
    assert refused(reporting, "SELECT * FROM notes")
    assert refused(reporting, "SELECT * FROM access_log")
