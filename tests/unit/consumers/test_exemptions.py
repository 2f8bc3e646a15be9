"""The exemptions CSV: valid rows through, each bad line named."""

from __future__ import annotations

from datetime import date

from consumers.exemptions import ExemptionRow, parse_exemptions


def test_valid_rows_are_parsed_with_reasons_normalised():
    rows, errors = parse_exemptions("student,from,to,reason,note\ns1,2026-11-02,2026-11-20,Placement,at Ford\ns2,2026-11-05,2026-11-05,authorised absence,\n")
    assert errors == []
    assert rows == [
        ExemptionRow("s1", date(2026, 11, 2), date(2026, 11, 20), "placement", "at Ford"),
        ExemptionRow("s2", date(2026, 11, 5), date(2026, 11, 5), "authorised_absence", None),
    ]


def test_each_bad_line_is_named_and_good_lines_still_load():
    text = "student,from,to,reason\ns1,2026-11-20,2026-11-02,placement\n,2026-11-02,2026-11-03,placement\ns3,02/11/2026,2026-11-03,placement\ns4,2026-11-02,2026-11-03,holiday\ns5,2026-11-02,2026-11-03,withdrawn\n"
    rows, errors = parse_exemptions(text)
    assert [r.student_id for r in rows] == ["s5"]
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert "before it starts" in errors[0] and "no student id" in errors[1] and "YYYY-MM-DD" in errors[2] and "holiday" in errors[3]


def test_missing_columns_are_reported():
    rows, errors = parse_exemptions("student,start,end,reason\ns1,2026-11-02,2026-11-03,placement\n")
    assert rows == [] and "missing column(s) from, to" in errors[0]
