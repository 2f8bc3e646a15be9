"""Every PostgreSQL table holding rows about a student, with what each is, in one place (pure data).

A subject-access export reads each table below; an erasure deletes from each (children
before the parents they reference) except the access log, which is pseudonymised, and the
staff directory, which is left alone (see ``HOW``). ``tests/unit/consumers/test_protection_tables.py``
reads the migrations and fails when a table with a ``student_id`` column is missing here.
"""

from __future__ import annotations

from dataclasses import dataclass

# How an erasure treats a table.
DELETE, PSEUDONYMISE, KEEP = "delete", "pseudonymise", "keep"


@dataclass(frozen=True)
class Table:
    """One table about students: what it holds, its rows about one student, and what erasure does."""

    name: str
    description: str
    where: str  # the rows about the student: a condition on %(s)s
    order: str
    how: str = DELETE

    def select(self) -> str:
        """The query returning every row of this table about student ``%(s)s``."""
        return f"SELECT * FROM {self.name} WHERE {self.where} ORDER BY {self.order}"

    def delete(self) -> str:
        """The statement deleting them."""
        return f"DELETE FROM {self.name} WHERE {self.where}"


_ALERTS_OF = "alert_id IN (SELECT alert_id FROM alerts WHERE student_id = %(s)s)"

# In the order an erasure deletes them: rows referencing another table come before it.
TABLES: tuple[Table, ...] = (
    Table("students", "Your roster entry: programme, year, mode of study, personal tutor, department, enrolment status and the day you left.", "student_id = %(s)s", "student_id"),
    Table("student_current", "Your latest engagement score and band, and the explanation of how they were worked out.", "student_id = %(s)s", "student_id"),
    Table("engagement_history", "Your score and band at the end of each day.", "student_id = %(s)s", "day"),
    Table("band_changes", "Every change of your engagement band, with its cause and explanation.", "student_id = %(s)s", "as_of, change_id"),
    Table("alert_updates", "Every acknowledgement, action and dismissal of alerts about you, by whom and with what note.", _ALERTS_OF, "at, update_id"),
    Table("alert_deliveries", "Emails and webhook calls sent (or to be sent) to staff about alerts about you.", _ALERTS_OF, "alert_id, channel, target"),
    Table("notes", "Notes staff recorded about you.", "student_id = %(s)s", "created_at, note_id"),
    Table("alerts", "Alerts raised to staff about your engagement, and what became of them.", "student_id = %(s)s", "created_at, alert_id"),
    Table("alert_suppressions", "Alerts that would have been raised but were not (a holiday, an exemption, your status), and why.", "student_id = %(s)s", "decided_at, kind"),
    Table("exemptions", "Periods in which alerts about you are suppressed (authorised absence, placement, ...).", "student_id = %(s)s", "starts, exemption_id"),
    Table("objectives", "Objectives set with you, their status and your progress.", "student_id = %(s)s", "created_at, objective_id"),
    Table("referrals", "Referrals of you to support services, and whether you agreed to be contacted.", "student_id = %(s)s", "created_at, referral_id"),
    Table("data_queries", "Your challenges to records (data queries) and how they were resolved.", "student_id = %(s)s", "created_at, query_id"),
    Table(
        "access_log",
        "Who looked at or changed your records, when, in what role and why, including attempts that were refused.",
        "student_id = %(s)s",
        "at, access_id",
        PSEUDONYMISE,
    ),
    Table(
        "staff",
        "Your entry in the staff directory, if you also work for the university (a tutor who studies, say).",
        "user_id = %(s)s",
        "user_id",
        KEEP,
    ),
)

BY_NAME = {t.name: t for t in TABLES}

# Why erasure does not delete these two (shown by `leap erase` and in docs/data-protection.md).
HOW = {
    "access_log": "pseudonymised, not deleted: who looked at a record is the institution's accountability to every student; "
    "the entries stay, naming the student only by the keyed hash",
    "staff": "kept: a staff directory entry is about the person as staff, loaded from the university's directory",
}


def erased_tables() -> tuple[Table, ...]:
    """The tables an erasure deletes from, in a safe order."""
    return tuple(t for t in TABLES if t.how == DELETE)
