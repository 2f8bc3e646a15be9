from streams.outputs import bands_by_cohort, pooled_size


def states(spec):
    out, n = {}, 0
    for cohort, bands in spec.items():
        for band in bands:
            out[f"s{n}"] = {"cohort": cohort, "band": band}
            n += 1
    return out


def test_no_row_counts_fewer_students_than_the_minimum():
    data = states({"A/Y1": ["high"] * 12, "B/Y1": ["low", "high"], "C/Y1": ["very_low"] * 3})
    table = bands_by_cohort(data, 10)
    assert table["A/Y1"]["high"] == 12
    assert "B/Y1" not in table and "C/Y1" not in table
    assert table["smaller cohorts (under 10 each)"] is None  # five students pooled: still too few
    assert pooled_size(data, table) == 5
    bigger = states({"A/Y1": ["high"] * 12, **{f"S{i}": ["low", "good"] for i in range(5)}})
    pooled = bands_by_cohort(bigger, 10)["smaller cohorts (under 10 each)"]
    assert pooled == {"low": 5, "good": 5}


def test_with_no_minimum_every_cohort_is_shown():
    data = states({"A/Y1": ["high"], "B/Y1": ["low"]})
    assert set(bands_by_cohort(data)) == {"A/Y1", "B/Y1"}
