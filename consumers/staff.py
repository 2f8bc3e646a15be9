"""The staff directory CSV: ``user_id,roles,departments,service[,programmes]`` -> rows, or errors naming the line.

``roles``, ``departments`` and ``programmes`` hold several values separated by ``;``. Roles are those of
``leap/access.py`` except ``student`` (a student is an actor through the roster). A
``department_staff`` member needs at least one department or programme (a programme leader
sees the students of their programmes), a ``support_service`` member
their service (as named on referrals); a department or service without the role that uses
it is refused too, as it would be silently ignored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from leap.access import ROLES

COLUMNS = ("user_id", "roles")
STAFF_ROLES = tuple(r for r in ROLES if r != "student")
MAX_NAME = 200


@dataclass(frozen=True)
class StaffRow:
    """One valid directory entry."""

    user_id: str
    roles: tuple[str, ...]
    departments: tuple[str, ...] = ()
    service: str | None = None
    programmes: tuple[str, ...] = ()


def _split(value: str | None) -> tuple[str, ...]:
    parts = (p.strip() for p in (value or "").split(";"))
    return tuple(dict.fromkeys(p for p in parts if p))  # in order, once each


def _row_error(user: str, roles: tuple[str, ...], departments: tuple[str, ...], service: str | None, programmes: tuple[str, ...] = ()) -> str | None:
    if not user:
        return "no user_id"
    if len(user) > MAX_NAME or any(len(d) > MAX_NAME for d in (*departments, *programmes)) or len(service or "") > MAX_NAME:
        return f"a value is longer than {MAX_NAME} characters"
    if not roles:
        return f"no roles (one or more of {', '.join(STAFF_ROLES)}, separated by ;)"
    if "student" in roles:
        return "role student is not a staff role: students are actors through the roster"
    unknown = [r for r in roles if r not in STAFF_ROLES]
    if unknown:
        return f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(STAFF_ROLES)}"
    if "department_staff" in roles and not departments and not programmes:
        return "department_staff needs at least one department or programme"
    if (departments or programmes) and "department_staff" not in roles:
        return "departments or programmes are given but the role department_staff is not"
    if "support_service" in roles and not service:
        return "support_service needs a service"
    if service and "support_service" not in roles:
        return "a service is given but the role support_service is not"
    return None


def parse_staff(text: str) -> tuple[list[StaffRow], list[str]]:
    """Parse the CSV; return the valid rows and one message per invalid line."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    reader.fieldnames = fields
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        return [], [f"line 1: missing column(s) {', '.join(missing)} (expected user_id,roles[,departments][,service][,programmes])"]
    rows: list[StaffRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            errors.append(f"line {line}: more values than columns")
            continue
        user = (raw.get("user_id") or "").strip()
        roles = _split(raw.get("roles"))
        departments = _split(raw.get("departments"))
        service = (raw.get("service") or "").strip() or None
        programmes = _split(raw.get("programmes"))
        problem = _row_error(user, roles, departments, service, programmes)
        if problem is None and user in seen:
            problem = f"user {user} is already on line {seen[user]}"
        if problem is not None:
            errors.append(f"line {line}: {problem}")
            continue
        seen[user] = line
        rows.append(StaffRow(user, roles, departments, service, programmes))
    return rows, errors
