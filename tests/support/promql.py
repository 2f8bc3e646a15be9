"""Metric names used by PromQL expressions and exported by /metrics pages, to check one against the other."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

# PromQL's functions, aggregations and keywords: identifiers that are not metric names.
_WORDS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "count", "count_over_time", "count_values", "day_of_month", "day_of_week", "days_in_month", "delta", "deriv", "exp", "floor",
    "group", "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time",
    "ln", "log2", "log10", "max", "max_over_time", "min", "min_over_time", "minute", "month", "predict_linear", "quantile",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "stddev", "stddev_over_time",
    "stdvar", "sum", "sum_over_time", "time", "timestamp", "topk", "vector", "year", "and", "or", "unless", "by", "without",
    "on", "ignoring", "group_left", "group_right", "offset", "bool", "inf", "nan",
}  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_DURATIONS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (label names, functions and keywords left out)."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _DURATIONS.sub(" ", text)
    text = _GROUPING.sub(r"\1 ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", " ", text)
    return {word for word in _IDENTIFIER.findall(text) if word.lower() not in _WORDS}


def dashboard_exprs(path: Path) -> Iterator[str]:
    """Every query expression of a Grafana dashboard file."""

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                yield node["expr"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from walk(json.loads(path.read_text()))


def rule_exprs(path: Path) -> Iterator[tuple[str, str]]:
    """(alert name, expression) of every rule of a Prometheus rules file."""
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule.get("record"), rule["expr"]


def exported_names(page: str) -> set[str]:
    """The sample names a /metrics page can produce, from its TYPE lines (histogram parts included)."""
    names = set()
    for line in page.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update(f"{name}_{part}" for part in ("bucket", "sum", "count", "created"))
            if kind == "counter":
                names.add(f"{name}_created")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
