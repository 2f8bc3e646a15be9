"""One storage layer for staff-facing records, shared by the command line and the portal.

Every function taking an ``Actor`` asks ``leap.access.decide`` (through ``guard.allow``),
raises ``Forbidden`` when refused (the refusal logged), and otherwise writes the access log
with the role and purpose in the same transaction as its read or write. They need an
autocommit connection. No SQL about these records lives anywhere else.
"""

from consumers.records.checks import (
    MAX_TEXT,
    Forbidden,
    InvalidInput,
    NotFound,
    RecordError,
    UnknownUser,
)
from consumers.records.caseload import caseload, caseload_order, history_of
from consumers.records.guard import (
    actions_for,
    command_line_actor,
    actor_for,
    audit,
    load_staff,
    operator,
    relation_for,
    relations_for,
)
from consumers.records.reads import (
    access_log_of,
    alert_summary,
    alerts_for,
    list_alerts,
    list_notes,
    list_queries,
    referrals_of,
    status_of,
    student_record,
    student_status,
)
from consumers.records.writes import (
    add_exemptions,
    add_note,
    add_objective,
    add_referral,
    raise_query,
    close_referral,
    withdraw_query,
    record_consent,
    resolve_query,
    update_alert,
    update_objective,
)

__all__ = [
    "command_line_actor",
    "caseload",
    "caseload_order",
    "history_of",
    "MAX_TEXT",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "RecordError",
    "UnknownUser",
    "access_log_of",
    "actor_for",
    "add_exemptions",
    "add_note",
    "add_objective",
    "add_referral",
    "alert_summary",
    "alerts_for",
    "audit",
    "list_alerts",
    "list_notes",
    "list_queries",
    "load_staff",
    "operator",
    "raise_query",
    "close_referral",
    "withdraw_query",
    "record_consent",
    "referrals_of",
    "actions_for",
    "relation_for",
    "relations_for",
    "resolve_query",
    "status_of",
    "student_record",
    "student_status",
    "update_alert",
    "update_objective",
]  # fmt: skip
