"""The staff directory CSV: valid rows through, each bad line named."""

from __future__ import annotations

from consumers.staff import StaffRow, parse_staff


def test_valid_rows_are_parsed_with_several_values_split_on_semicolons():
    text = (
        "user_id,roles,departments,service\n"
        "tutor-a,personal_tutor,,\n"
        "hod-h, department_staff ; personal_tutor ,History; Classics,\n"
        "counsel-1,support_service,,counselling\n"
        "ops,admin,,\n"
    )
    rows, errors = parse_staff(text)
    assert errors == []
    assert rows == [
        StaffRow("tutor-a", ("personal_tutor",)),
        StaffRow("hod-h", ("department_staff", "personal_tutor"), ("History", "Classics")),
        StaffRow("counsel-1", ("support_service",), (), "counselling"),
        StaffRow("ops", ("admin",)),
    ]


def test_optional_columns_may_be_left_out():
    rows, errors = parse_staff("user_id,roles\nt1,personal_tutor;admin\n")
    assert errors == [] and rows == [StaffRow("t1", ("personal_tutor", "admin"))]


def test_each_bad_line_is_named_and_good_lines_still_load():
    text = (
        "user_id,roles,departments,service\n"
        ",personal_tutor,,\n"  # 2 no user
        "t2,,,\n"  # 3 no roles
        "t3,lecturer,,\n"  # 4 unknown role
        "t4,student,,\n"  # 5 students come from the roster
        "t5,department_staff,,\n"  # 6 no department
        "t6,support_service,,\n"  # 7 no service
        "t7,personal_tutor,History,\n"  # 8 department without the role
        "t8,personal_tutor,,counselling\n"  # 9 service without the role
        "good,personal_tutor,,\n"  # 10
        "good,admin,,\n"  # 11 duplicate
        "t9,admin,,,extra\n"  # 12 too many values
        f"{'x' * 201},admin,,\n"  # 13 too long
    )
    rows, errors = parse_staff(text)
    assert [r.user_id for r in rows] == ["good"]
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in [*range(2, 10), 11, 12, 13]]
    expected = ["no user_id", "no roles", "unknown role(s) lecturer", "not a staff role", "needs at least one department", "needs a service",
                "role department_staff is not", "role support_service is not", "already on line 10", "more values than columns", "longer than 200"]  # fmt: skip
    assert all(part in message for part, message in zip(expected, errors, strict=True)), errors


def test_missing_columns_are_reported():
    rows, errors = parse_staff("user,role\nt1,admin\n")
    assert rows == [] and "missing column(s) user_id, roles" in errors[0]


def test_a_programme_leader_is_department_staff_with_programmes():
    from consumers.staff import parse_staff

    rows, errors = parse_staff("user_id,roles,departments,service,programmes\nlead,department_staff,,,BSC-CS;MSC-DS\nx,personal_tutor,,,BSC-CS\n")
    assert [(r.user_id, r.programmes) for r in rows] == [("lead", ("BSC-CS", "MSC-DS"))]
    assert errors == ["line 3: departments or programmes are given but the role department_staff is not"]
