"""An institution's policy, read from its TOML file (see deploy/institution.toml).

The engagement model and the alert rules hold no numbers of their own: weights, caps,
windows, bands, margins, alert thresholds and channels all come from here, validated on
load so a typo fails at start-up with the field named.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

COUNT_SOURCES = ("vle", "coursework", "logins", "library")
RELATIVE_SOURCES = ("vle", "coursework", "lecture_capture", "logins", "library")
SOURCES = ("attendance", *RELATIVE_SOURCES)
BAND_ORDER = ("very_low", "low", "partial", "good", "high")
NO_DATA = "no_data"


class PolicyError(ValueError):
    """The policy file is missing, unreadable or invalid; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Weights(_Strict):
    attendance: float = Field(3, ge=0)
    vle: float = Field(2, ge=0)
    coursework: float = Field(2, ge=0)
    lecture_capture: float = Field(1, ge=0)
    logins: float = Field(1, ge=0)
    library: float = Field(1, ge=0)


class DailyCaps(_Strict):
    vle: int = Field(200, ge=1)
    coursework: int = Field(20, ge=1)
    logins: int = Field(20, ge=1)
    library: int = Field(20, ge=1)
    lecture_capture_minutes: int = Field(300, ge=1)


class Bands(_Strict):
    high: float = 80
    good: float = 60
    partial: float = 40
    low: float = 20

    @model_validator(mode="after")
    def _descending(self) -> Bands:
        if not 100 >= self.high > self.good > self.partial > self.low > 0:
            raise ValueError("band bounds must satisfy 100 >= high > good > partial > low > 0")
        return self


class Engagement(_Strict):
    window_days_full_time: int = Field(7, ge=1)
    window_days_part_time: int = Field(21, ge=1)
    retention_days: int = Field(42, ge=35)
    future_tolerance_minutes: int = Field(10, ge=0)
    hysteresis_margin: float = Field(2.0, ge=0)
    # No comparison figure comes from fewer active students than this: a smaller cohort is
    # compared with the next wider group (programme, department, institution).
    min_cohort_size: int = Field(10, ge=1)
    weights: Weights = Weights()
    daily_caps: DailyCaps = DailyCaps()
    bands: Bands = Bands()

    @model_validator(mode="after")
    def _retention_covers_windows(self) -> Engagement:
        longest = max(self.window_days_full_time, self.window_days_part_time)
        if self.retention_days <= longest:
            raise ValueError(f"retention_days must exceed the longest window ({longest} days)")
        return self


# Defaults (documented in deploy/institution.toml): attendance registers are uploaded 24-72 h
# late (48-hour uploads are common); the other feeds are overnight loads or near-live.
DEFAULT_ARRIVAL_LAG_HOURS = 6.0
_ARRIVAL_LAG_HOURS = {"attendance": 72.0, "vle": 6.0, "coursework": 6.0, "lecture_capture": 12.0, "logins": 6.0, "library": 12.0}
# Longest normal gap between arrivals, in teaching hours (9 a teaching day): busy feeds
# arrive within the hour; nightly or batch feeds once a teaching day or less often.
_MAX_QUIET_HOURS = {"attendance": 27.0, "vle": 3.0, "coursework": 18.0, "lecture_capture": 18.0, "logins": 3.0, "library": 18.0}


class OutageGuard(_Strict):
    """When a source's feed looks broken, alerts it could have caused are held."""

    # A source is out when its events on the last complete day are below ratio x usual.
    ratio: float = Field(0.3, gt=0, lt=1)
    # Usual = median of the same weekday over this many previous weeks (teaching days only).
    lookback_weeks: int = Field(4, ge=1)
    # No judgement without this many weeks of history, or below this usual volume.
    min_history_weeks: int = Field(2, ge=1)
    min_usual_events: int = Field(50, ge=1)
    # How late a day's events normally finish arriving, per source, in hours after the day
    # ends: a day's volume is judged only once this has passed (attendance uploads: 24-72 h).
    arrival_lag_hours: dict[str, float] = dict(_ARRIVAL_LAG_HOURS)
    # A source with nothing arriving for longer than this many teaching hours is out.
    max_quiet_hours: dict[str, float] = dict(_MAX_QUIET_HOURS)
    # Teaching hours of a teaching day (local, [start, end)): only they count as quiet.
    teaching_hours: tuple[int, int] = (9, 18)

    @model_validator(mode="after")
    def _history_fits(self) -> OutageGuard:
        if self.min_history_weeks > self.lookback_weeks:
            raise ValueError("min_history_weeks cannot exceed lookback_weeks")
        for name in ("arrival_lag_hours", "max_quiet_hours"):
            given = getattr(self, name)
            unknown = sorted(set(given) - set(SOURCES))
            if unknown:
                raise ValueError(f"{name}: unknown sources {unknown}; sources are {list(SOURCES)}")
            if any(v < 0 for v in given.values()) or (name == "max_quiet_hours" and any(v == 0 for v in given.values())):
                raise ValueError(f"{name}: hours must be positive")
        start, end = self.teaching_hours
        if not 0 <= start < end <= 24:
            raise ValueError("teaching_hours must be [start, end] with 0 <= start < end <= 24")
        return self

    def lag_hours(self, source: str) -> float:
        """The source's arrival lag (a source the policy does not name: the default lag)."""
        return self.arrival_lag_hours.get(source, _ARRIVAL_LAG_HOURS.get(source, DEFAULT_ARRIVAL_LAG_HOURS))

    def quiet_hours(self, source: str) -> float | None:
        """The longest normal silence of the source in teaching hours; None: not judged."""
        return self.max_quiet_hours.get(source, _MAX_QUIET_HOURS.get(source))


class Email(_Strict):
    """Optional email channel: immediate alerts or a daily digest per recipient."""

    enabled: bool = False
    mode: Literal["immediate", "digest"] = "immediate"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    sender: str = "leap@localhost"
    # Recipients are staff ids; their address is the id with this domain appended.
    domain: str = "localhost"
    # Local hour at which digests go out.
    digest_hour: int = Field(8, ge=0, le=23)


class Webhook(_Strict):
    """Optional webhook channel: every alert POSTed as JSON, signed, retried with backoff."""

    enabled: bool = False
    url: str = ""
    # HMAC-SHA256 of the body with this secret, hex, in the X-LEAP-Signature header.
    # Read from the environment variable named here, never from this file.
    secret_env: str = "LEAP_WEBHOOK_SECRET"
    max_attempts: int = Field(8, ge=1)
    backoff_seconds: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _url_when_enabled(self) -> Webhook:
        if self.enabled and not self.url.startswith(("http://", "https://")):
            raise ValueError("an enabled webhook needs an http(s) url")
        return self


class Alerts(_Strict):
    """The alert policy (see consumers/rules.py)."""

    # A drop into one of these bands from a higher band raises an alert...
    drop_into: tuple[str, ...] = ("low", "very_low")
    # ...and the student is re-armed once back to this band or better.
    rearm_at: str = "partial"
    # Teaching days with no activity in any source before a "no engagement" alert (NTU 14, Leeds 7).
    no_engagement_days: int = Field(14, ge=1)
    # Terms, reading weeks and holidays; relative paths are relative to this policy file.
    calendar_file: Path = Path("calendar.toml")
    # Recipient when a student has no personal tutor: per department, else the default.
    department_fallback: dict[str, str] = {}
    default_recipient: str = "student-support"
    # How often held alerts are reviewed, and pending deliveries retried.
    review_seconds: float = Field(10.0, gt=0)
    # A state computed while the engine had this many more activity messages of the
    # student's partition still to read (a backlog) holds its alerts until it catches up.
    engine_lag_tolerance: int = Field(1000, ge=0)
    outage_guard: OutageGuard = OutageGuard()
    email: Email = Email()
    webhook: Webhook = Webhook()

    @model_validator(mode="after")
    def _known_bands(self) -> Alerts:
        unknown = [b for b in (*self.drop_into, self.rearm_at) if b not in BAND_ORDER]
        if unknown:
            raise ValueError(f"unknown bands {unknown}; bands are {list(BAND_ORDER)}")
        if any(BAND_ORDER.index(b) >= BAND_ORDER.index(self.rearm_at) for b in self.drop_into):
            raise ValueError("rearm_at must be above every band in drop_into")
        return self


class SourceNames(_Strict):
    """How sources are named to students and staff (leap/explain.py); unnamed ones keep the defaults."""

    display_names: dict[str, str] = {}

    @model_validator(mode="after")
    def _known_sources(self) -> SourceNames:
        unknown = sorted(set(self.display_names) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown sources {unknown}; sources are {list(SOURCES)}")
        if any(not name.strip() for name in self.display_names.values()):
            raise ValueError("a display name cannot be empty")
        return self


class Retention(_Strict):
    """How long PostgreSQL keeps each kind of row (``leap retention run``; docs/data-protection.md)."""

    # Notes, objectives, referrals, data queries and exemptions: days after the student left
    # (their roster status stopped being active).
    records_after_leaving_days: int = Field(1095, ge=30)
    # Daily scores and bands (the portal's charts show 12 weeks, so never under 84).
    engagement_history_days: int = Field(400, ge=84)
    band_changes_days: int = Field(400, ge=30)
    # Alerts closed (actioned, dismissed, recovered, dropped) this long ago, with their updates and deliveries.
    closed_alerts_days: int = Field(730, ge=30)
    # Alerts not raised and why (resolved ones only: a postponed drop still waiting is kept).
    alert_suppressions_days: int = Field(400, ge=30)
    # Who looked at what: students see it, audits need it, so at least a year.
    access_log_days: int = Field(2190, ge=365)


class Policy(_Strict):
    """The whole institution policy file."""

    engagement: Engagement = Engagement()
    alerts: Alerts = Alerts()
    sources: SourceNames = SourceNames()
    retention: Retention = Retention()


def read_toml(path: Path, error: type[ValueError], what: str) -> dict:
    """A TOML file's contents; ``error`` names the file when it is missing or not TOML."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; ``PolicyError`` names the file and the bad field."""
    data = read_toml(path, PolicyError, "policy file (LEAP_POLICY_FILE)")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: {problems}") from None
    if not policy.alerts.calendar_file.is_absolute():
        alerts = policy.alerts.model_copy(update={"calendar_file": path.parent / policy.alerts.calendar_file})
        policy = policy.model_copy(update={"alerts": alerts})
    return policy


@lru_cache(maxsize=4)
def cached_policy(path: Path) -> Policy:
    """``load_policy`` once per path per process."""
    return load_policy(path)
