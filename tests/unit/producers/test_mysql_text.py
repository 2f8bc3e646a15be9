"""MySQL's escaped text exports (INTO OUTFILE, mysqldump --tab): read field for field, NULL kept."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.exports import open_export
from producers.sources import Options
from producers.mysql_text import NULL, _Incomplete, dialect_of, looks_like_mysql, read_mysql, split_record
from tests.unit.producers.test_moodle import logstore_row


def mysql_field(value: str | None, delimiter: str, enclosed: bool) -> str:
    """A field as MySQL writes it with ESCAPED BY '\\' (its default)."""
    if value is None:
        return "\\N"
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\0", "\\0").replace("\r", "\\r")
    out = out.replace('"', '\\"') if enclosed else out.replace(delimiter, "\\" + delimiter)
    return f'"{out}"' if enclosed else out


def mysql_line(values: list[str | None], delimiter: str = ",", enclosed: bool = True) -> str:
    return delimiter.join(mysql_field(v, delimiter, enclosed) for v in values) + "\n"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ('"a","b \\"quoted\\"",\\N', ["a", 'b "quoted"', NULL]),
        ('"\\\\core\\\\event\\\\user_loggedin","x"', ["\\core\\event\\user_loggedin", "x"]),
        ("one\\,two,three", ["one,two", "three"]),
        ('"tab\\there","line\\nbreak"', ["tab\there", "line\nbreak"]),
        ('"doubled ""quote"""', ['doubled "quote"']),
        ("\\N,\\N", [NULL, NULL]),
        ('"\\N"', ["N"]),  # only an unquoted, whole \N is NULL
        ("", [""]),
    ],
)
def test_fields_are_unescaped_as_mysql_wrote_them(text, fields):
    assert split_record(text, ",") == fields


def test_text_after_a_closing_quote_is_an_error_and_an_open_field_continues():
    with pytest.raises(ValueError, match="after the closing quote of field 1"):
        split_record('"a"b,c', ",")
    for unfinished in ('"open', "escaped line end\\"):
        with pytest.raises(_Incomplete):
            split_record(unfinished, ",")


def test_a_record_over_several_lines_is_one_record_with_its_first_line_number():
    text = '"1","first"\n"2","a field with a \\\nreal newline"\n"3","an open\nquote"\n"4","end"\n'
    records = list(read_mysql(io.StringIO(text), ","))
    assert [(r.line, r.fields) for r in records] == [(1, ["1", "first"]), (2, ["2", "a field with a \nreal newline"]), (4, ["3", "an open\nquote"]),
                                                     (6, ["4", "end"])]  # fmt: skip
    assert "".join(r.raw for r in records) == text


def test_the_dialect_comes_from_the_first_line_and_a_quote_is_plain_text_when_nothing_is_enclosed():
    assert dialect_of('"12345","\\core\\event\\user_loggedin"') == (",", True)
    assert dialect_of("12345\t\\core\\event\\user_loggedin\tcore") == ("\t", False)
    (record,) = list(read_mysql(io.StringIO('12345\t"quoted" text\t\\N\n'), "\t", enclosed=False))
    assert record.fields == ["12345", '"quoted" text', NULL]


def test_a_file_ending_inside_a_field_is_one_error_record():
    (record,) = list(read_mysql(io.StringIO('"1","never closed\n'), ","))
    assert record.fields is None and "ends inside a field" in record.error


_VALUES = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30).filter(lambda v: v != "\\N"))


@given(st.lists(st.lists(_VALUES, min_size=1, max_size=6), min_size=1, max_size=5), st.sampled_from([",", "\t"]), st.booleans())
def test_whatever_mysql_writes_reads_back_field_for_field(rows, delimiter, enclosed):
    text = "".join(mysql_line(row, delimiter, enclosed) for row in rows)
    records = list(read_mysql(io.StringIO(text), delimiter, enclosed))
    expected = [[NULL if v is None else v for v in row] for row in rows]
    # A row of one empty, unquoted field is an empty line, which holds no record.
    assert [r.fields for r in records] == [row for row in expected if enclosed or row != [""]]
    assert all(r.error is None for r in records)


@pytest.mark.parametrize(("delimiter", "enclosed"), [(",", True), ("\t", False)])
def test_a_moodle_dump_in_mysqls_text_gives_the_same_events_as_its_csv(tmp_path, delimiter, enclosed):
    rows = [logstore_row(), logstore_row(id="12346", other='{"quote": "say \\"hi\\""}', relateduserid="NULL"),
            logstore_row(id="12347", eventname="\\core\\event\\user_loggedin", component="core", action="loggedin", target="user",
                         objecttable="user", objectid="1046", edulevel="0", contextlevel="10", other='a:1:{s:8:"username";s:4:"amir";}')]  # fmt: skip
    as_csv = tmp_path / "dump.csv"
    with as_csv.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    as_mysql = tmp_path / "outfile.txt"
    as_mysql.write_text("".join(mysql_line([None if v == "NULL" else v for v in row], delimiter, enclosed) for row in rows))
    assert looks_like_mysql(as_mysql.read_text()) and not looks_like_mysql(as_csv.read_text())

    def events(path):
        with open_export(path, "moodle", Options(site="essex")) as export:
            return [(type(o).__name__, getattr(o, "record", None)) for _, o in export.outcomes()]

    from_csv = events(as_csv)
    assert [kind for kind, _ in from_csv] == ["Event", "Event", "Event"]
    assert events(as_mysql) == from_csv


@pytest.mark.parametrize(("escaped", "plain", "mysql"), [(0, 0, False), (1, 0, True), (1, 50, False), (50, 1, True), (2, 2, False)])
def test_the_format_is_the_majority_of_lines_not_the_first_odd_one(escaped, plain, mysql):
    as_csv = io.StringIO()
    csv.writer(as_csv).writerows([logstore_row(id=str(i)) for i in range(plain)])
    text = as_csv.getvalue() + "".join(mysql_line(logstore_row(id=str(1000 + i))) for i in range(escaped))
    assert looks_like_mysql(text) is mysql


def test_one_csv_row_with_doubled_backslashes_leaves_the_rest_of_the_file_readable(tmp_path):
    rows = [logstore_row(id=str(12345 + i)) for i in range(50)]
    rows.insert(20, logstore_row(id="99999", eventname="\\\\core\\\\event\\\\course_viewed"))
    path = tmp_path / "dump.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    with open_export(path, "moodle", Options(site="essex")) as export:
        kinds = [type(o).__name__ for _, o in export.outcomes()]
    # Only that row is refused (its event name is no Moodle class): one dead letter, not 51.
    assert kinds == ["Event"] * 20 + ["Reject"] + ["Event"] * 30, kinds
