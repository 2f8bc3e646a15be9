"""The legitimate-need policy: the whole matrix as an explicit table, then properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap.access import ACTIONS, GRANTS, ROLES, Actor, Decision, Relation, allowed_actions, decide

DOCS = Path(__file__).resolve().parents[3] / "docs" / "access.md"

# One actor per column, each holding a single role.
ACTORS = {
    "student": Actor("u-s1", frozenset({"student"}), student_id="S1"),
    "tutor": Actor("T1", frozenset({"personal_tutor"})),
    "dept": Actor("D1", frozenset({"department_staff"}), departments=frozenset({"CS"})),
    "prog": Actor("P1", frozenset({"department_staff"}), programmes=frozenset({"BSC-CS"})),
    "service": Actor("W1", frozenset({"support_service"}), service="wellbeing"),
    "admin": Actor("A1", frozenset({"admin"})),
    "admin_no_reason": Actor("A1", frozenset({"admin"})),
}
ROLE_OF = {"student": "student", "tutor": "personal_tutor", "dept": "department_staff", "prog": "department_staff", "service": "support_service", "admin": "admin"}
REASON = {"admin": "subject access request 42"}

# own: the actor's own record, tutee, department's/programme's student, referred with consent.
# other: a student related to someone else of the same kind. unrelated: a student related to nobody.
RELATIONS = (
    Relation("S1", personal_tutor="T1", department="CS", consented_services=frozenset({"wellbeing"}), programme="BSC-CS"),
    Relation("S2", personal_tutor="T2", department="MATH", consented_services=frozenset({"careers"}), programme="BSC-MA"),
    Relation("S3"),
)

# Each cell: own, other, unrelated; y allowed, . denied. A policy change must change this table.
EXPECTED = """
action           student tutor dept prog service admin admin_no_reason
view_status      y..     y..   y..  y..  y..     yyy   ...
view_records     y..     y..   y..  y..  ...     yyy   ...
view_referrals   y..     y..   y..  y..  y..     yyy   ...
view_access_log  y..     ...   ...  ...  ...     yyy   ...
add_note         ...     y..   y..  y..  y..     ...   ...
add_objective    ...     y..   y..  y..  ...     ...   ...
update_objective y..     y..   y..  y..  ...     ...   ...
add_referral     ...     y..   y..  y..  ...     ...   ...
update_referral  ...     y..   y..  y..  y..     ...   ...
record_consent   y..     ...   ...  ...  ...     ...   ...
add_exemption    ...     ...   y..  y..  ...     yyy   ...
update_alert     ...     y..   y..  y..  ...     yyy   ...
raise_query      y..     ...   ...  ...  ...     ...   ...
resolve_query    ...     y..   y..  y..  ...     yyy   ...
export_sar       y..     ...   ...  ...  ...     yyy   ...
erase            ...     ...   ...  ...  ...     yyy   ...
"""


def _expected() -> list[tuple[str, str, int, bool]]:
    lines = EXPECTED.strip().splitlines()
    columns = lines[0].split()[1:]
    cases = []
    for line in lines[1:]:
        action, *cells = line.split()
        for column, cell in zip(columns, cells, strict=True):
            cases += [(action, column, i, mark == "y") for i, mark in enumerate(cell)]
    return cases


def test_the_table_covers_every_action_and_role_once():
    lines = EXPECTED.strip().splitlines()
    assert [line.split()[0] for line in lines[1:]] == list(ACTIONS)
    assert lines[0].split()[1:] == list(ACTORS)
    assert set(ROLE_OF.values()) == set(ROLES)


@pytest.mark.parametrize(("action", "column", "which", "allowed"), _expected())
def test_matrix(action, column, which, allowed):
    decision = decide(ACTORS[column], action, RELATIONS[which], reason=REASON.get(column, ""))
    assert decision.allowed is allowed
    assert decision.role == (ROLE_OF[column] if allowed else None)
    assert decision.purpose.strip()
    assert decision.only_service == ("wellbeing" if allowed and column == "service" else None)


def test_purposes_say_which_relationship_and_reason():
    own = RELATIONS[0]
    assert decide(ACTORS["tutor"], "view_status", own).purpose == "personal tutor of the student"
    assert decide(ACTORS["dept"], "view_status", own).purpose == "staff of the student's department (CS)"
    assert decide(ACTORS["prog"], "view_status", own).purpose == "staff of the student's programme (BSC-CS)"
    assert decide(ACTORS["tutor"], "view_status", own, reason=" alert follow-up ").purpose == "personal tutor of the student: alert follow-up"
    assert decide(ACTORS["admin"], "erase", own, reason="erasure request 7").purpose == "LEAP administrator: erasure request 7"
    assert decide(ACTORS["admin"], "erase", own, reason="   ").purpose == "A1 must give a reason to erase as LEAP administrator"


def test_a_phd_student_who_tutors_is_only_a_student_on_their_own_record():
    phd = Actor("T1", frozenset({"student", "personal_tutor", "department_staff", "admin"}), student_id="S1", departments=frozenset({"CS"}))
    own = RELATIONS[0]  # they are even recorded as their own tutor
    assert decide(phd, "view_status", own) == Decision(True, "student", "the student's own record")
    for action in ("add_note", "add_exemption", "erase", "update_alert"):
        decision = decide(phd, action, own, reason="because")
        assert not decision.allowed
        assert decision.purpose == f"T1 cannot {action.replace('_', ' ')} on their own record as staff"
    tutee = Relation("S9", personal_tutor="T1")
    assert decide(phd, "add_note", tutee).role == "personal_tutor"
    assert not decide(phd, "view_access_log", tutee).allowed  # their tutee's log is not theirs


def test_staff_with_a_student_id_but_no_student_role_get_nothing_on_that_record():
    staff = Actor("T1", frozenset({"personal_tutor"}), student_id="S1")
    assert allowed_actions(staff, RELATIONS[0]) == {}


def test_several_roles_are_logged_under_the_narrowest_that_allows():
    both = Actor("T1", frozenset({"personal_tutor", "admin", "department_staff"}), departments=frozenset({"MATH"}))
    assert decide(both, "view_status", RELATIONS[0], reason="x").role == "personal_tutor"
    assert decide(both, "view_status", RELATIONS[1], reason="x").role == "department_staff"
    assert decide(both, "view_status", RELATIONS[2], reason="x").role == "admin"
    assert decide(both, "add_exemption", RELATIONS[0], reason="x").role == "admin"  # tutors record no exemptions
    assert not decide(both, "add_exemption", RELATIONS[2]).allowed


def test_the_author_of_a_challenged_record_does_not_resolve_the_query():
    challenged = Relation("S1", personal_tutor="T1", department="CS", record_author="T1")
    author = Actor("T1", frozenset({"personal_tutor", "department_staff", "admin"}), departments=frozenset({"CS"}))
    decision = decide(author, "resolve_query", challenged, reason="escalated")
    assert decision == Decision(False, None, "T1 made the record challenged, so someone else must resolve the query")
    assert decide(ACTORS["dept"], "resolve_query", challenged).allowed
    assert decide(author, "add_note", challenged).allowed  # authorship only bars judging the challenge
    assert decide(ACTORS["tutor"], "resolve_query", Relation("S1", personal_tutor="T1", record_author=None)).allowed


def test_a_service_loses_access_when_consent_is_withdrawn():
    referred = Relation("S1", consented_services=frozenset({"wellbeing"}))
    withdrawn = Relation("S1", consented_services=frozenset())
    assert decide(ACTORS["service"], "view_status", referred).allowed
    assert allowed_actions(ACTORS["service"], withdrawn) == {}


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_blank_ids_never_match_each_other(blank):
    nobody = Relation("S1", personal_tutor=blank, department=blank, consented_services=frozenset({blank}), programme=blank)
    actor = Actor("X", frozenset(ROLES), student_id=blank, departments=frozenset({blank}), service=blank, programmes=frozenset({blank}))
    assert allowed_actions(actor, nobody) == {}
    tutor_named_blank = Actor(" ", frozenset({"personal_tutor"}))
    with pytest.raises(ValueError, match="an actor needs a user id"):
        decide(tutor_named_blank, "view_status", Relation("S1", personal_tutor=" "))


@pytest.mark.parametrize(
    ("actor", "relation", "message"),
    [
        (Actor("T1", frozenset({"tutor"})), RELATIONS[0], r"unknown roles \['tutor'\]"),
        (Actor("", frozenset({"admin"})), RELATIONS[0], "an actor needs a user id"),
        (ACTORS["admin"], Relation(""), "the relation's student id is empty"),
    ],
)
def test_requests_the_policy_cannot_judge_raise(actor, relation, message):
    with pytest.raises(ValueError, match=message):
        decide(actor, "view_status", relation, reason="r")


def test_roles_as_a_string_are_not_read_letter_by_letter():
    with pytest.raises(TypeError, match="roles must be a set of role names, not str"):
        decide(Actor("T1", "admin"), "view_status", RELATIONS[0], reason="r")  # type: ignore[arg-type]


def test_the_documented_table_is_the_policy():
    lines = DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| action |"))
    header = lines[start]
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    rows = lines[start + 2 : end]
    roles = [cell.strip(" `") for cell in header.strip("|").split("|")[1:6]]
    assert roles == list(ROLES)
    documented = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented[cells[0].strip("`")] = {role for role, cell in zip(roles, cells[1:6], strict=True) if cell != "no"}
    assert list(documented) == list(ACTIONS)
    assert documented == {action: {role for role in ROLES if action in GRANTS[role]} for action in ACTIONS}


# Properties over arbitrary actors and relations. Small pools of ids make them collide.
IDS = st.sampled_from(["S1", "S2", "T1", "T2", "CS", "MATH", "wellbeing", "careers"])
MAYBE_IDS = st.one_of(st.none(), st.sampled_from(["", " "]), IDS)
ID_SETS = st.frozensets(MAYBE_IDS, max_size=3)
ROLE_SETS = st.frozensets(st.sampled_from(ROLES))
REASONS = st.sampled_from(["", "  ", "sar 1"])

actors = st.builds(Actor, user_id=IDS, roles=ROLE_SETS, student_id=MAYBE_IDS, departments=ID_SETS, service=MAYBE_IDS, programmes=ID_SETS)
relations = st.builds(
    Relation, student_id=IDS, personal_tutor=MAYBE_IDS, department=MAYBE_IDS, consented_services=ID_SETS, programme=MAYBE_IDS, record_author=MAYBE_IDS
)
actions = st.sampled_from(ACTIONS)


@given(actors, actions, relations, REASONS)
def test_a_student_is_never_allowed_anything_about_another_student(actor, action, relation, reason):
    student = Actor(actor.user_id, frozenset({"student"}), student_id=actor.student_id)
    if student.student_id != relation.student_id:
        assert not decide(student, action, relation, reason=reason).allowed


@given(actors, actions, relations, REASONS)
def test_nobody_without_a_role_is_allowed_anything(actor, action, relation, reason):
    assert not decide(Actor(actor.user_id, frozenset(), actor.student_id, actor.departments, actor.service, actor.programmes), action, relation, reason=reason).allowed


@given(actors, actions, relations, REASONS)
def test_a_decision_names_a_held_role_and_a_purpose_only_when_allowed(actor, action, relation, reason):
    decision = decide(actor, action, relation, reason=reason)
    assert decision.purpose.strip()
    if decision.allowed:
        assert decision.role in actor.roles
        assert action in GRANTS[decision.role]
    else:
        assert decision.role is None
        assert decision.only_service is None


@given(actors, actions, relations, REASONS)
def test_on_their_own_record_anyone_is_only_the_student(actor, action, relation, reason):
    decision = decide(actor, action, relation, reason=reason)
    if decision.allowed and actor.student_id == relation.student_id:
        assert decision.role == "student"


@given(actors, relations, REASONS)
def test_the_author_of_a_record_never_resolves_a_query_about_it(actor, relation, reason):
    authored = Relation(relation.student_id, relation.personal_tutor, relation.department, relation.consented_services, relation.programme, actor.user_id)
    assert not decide(actor, "resolve_query", authored, reason=reason).allowed


@given(actors, actions, relations, REASONS, st.randoms())
def test_decisions_do_not_depend_on_the_order_of_roles(actor, action, relation, reason, rnd):
    shuffled = list(actor.roles)
    rnd.shuffle(shuffled)
    reordered = Actor(actor.user_id, frozenset(shuffled), actor.student_id, actor.departments, actor.service, actor.programmes)
    as_set = Actor(actor.user_id, set(shuffled), actor.student_id, actor.departments, actor.service, actor.programmes)  # type: ignore[arg-type]
    expected = decide(actor, action, relation, reason=reason)
    assert decide(reordered, action, relation, reason=reason) == expected
    assert decide(as_set, action, relation, reason=reason) == expected


@given(actors, actions, relations, REASONS, st.sampled_from(ROLES))
def test_another_role_never_takes_a_permission_away(actor, action, relation, reason, extra):
    more = Actor(actor.user_id, actor.roles | {extra}, actor.student_id, actor.departments, actor.service, actor.programmes)
    if decide(actor, action, relation, reason=reason).allowed:
        assert decide(more, action, relation, reason=reason).allowed


@given(actors, relations, REASONS)
def test_an_administrator_without_a_reason_is_allowed_nothing_as_administrator(actor, relation, reason):
    for action, decision in allowed_actions(actor, relation, reason=reason).items():
        assert decision == decide(actor, action, relation, reason=reason)
        if decision.role == "admin":
            assert reason.strip() and decision.purpose == f"LEAP administrator: {reason.strip()}"


@given(actors, st.text().filter(lambda a: a not in ACTIONS), relations)
def test_unknown_actions_raise(actor, action, relation):
    with pytest.raises(ValueError, match="unknown action"):
        decide(actor, action, relation)


def test_a_decision_limited_to_one_service_covers_only_that_services_referrals():
    assert Decision(True, "personal_tutor", "tutor").covers_service("counselling")
    limited = Decision(True, "support_service", "referred", only_service="counselling")
    assert limited.covers_service("counselling") and not limited.covers_service("careers")
