import io

from hypothesis import given
from hypothesis import strategies as st

from producers.outcome import CsvRecord
from producers.readers import open_text, raw_bytes, read_csv


def records(text: str) -> list[CsvRecord]:
    return list(read_csv(io.StringIO(text, newline="")))


def test_line_numbers_are_where_each_record_starts_even_after_multiline_fields():
    text = 'a,b\n1,"two\nlines"\n3,4\n'
    got = records(text)
    assert [r.line for r in got] == [1, 2, 4]
    assert [r.fields for r in got] == [["a", "b"], ["1", "two\nlines"], ["3", "4"]]


def test_raw_text_is_exactly_what_was_read():
    text = 'x,"a ""quoted"" value"\r\ny,2\n'
    got = records(text)
    assert "".join(r.raw for r in got) == text
    assert got[0].fields == ["x", 'a "quoted" value']


def test_blank_lines_are_not_records():
    assert [r.line for r in records("a\n\nb\n")] == [1, 3]


def test_unparseable_csv_is_an_error_record_and_reading_goes_on():
    got = records('a,b\n1,"x"y\n2,3\n')
    assert got[1].fields is None and "unreadable CSV" in got[1].error
    assert got[2].fields == ["2", "3"]


def test_bytes_that_are_not_utf8_are_an_error_record_with_the_exact_bytes(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,b\n1,caf\xe9\n2,ok\n")
    with open_text(path) as stream:
        got = list(read_csv(stream))
    assert got[1].error == "not valid UTF-8 text"
    assert raw_bytes(got[1]) == b"1,caf\xe9\n"
    assert got[2].fields == ["2", "ok"]


def test_byte_order_mark_is_not_part_of_the_first_field(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfid,x\n1,2\n")
    with open_text(path) as stream:
        assert next(read_csv(stream)).fields == ["id", "x"]


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


@given(st.lists(st.lists(cell, min_size=1, max_size=5), min_size=1, max_size=20))
def test_any_written_csv_reads_back_with_its_raw_text(rows):
    import csv

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow(row)
    text = buffer.getvalue()
    got = records(text)
    assert [r.fields for r in got] == rows
    assert "".join(r.raw for r in got) == text
