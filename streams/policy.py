"""An institution's engagement policy, read from its TOML file (see deploy/institution.toml).

The model's code holds no numbers of its own: weights, caps, windows, bands and margins all
come from here, validated on load so a typo fails at start-up with the field named.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

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
    weights: Weights = Weights()
    daily_caps: DailyCaps = DailyCaps()
    bands: Bands = Bands()

    @model_validator(mode="after")
    def _retention_covers_windows(self) -> Engagement:
        longest = max(self.window_days_full_time, self.window_days_part_time)
        if self.retention_days <= longest:
            raise ValueError(f"retention_days must exceed the longest window ({longest} days)")
        return self


class Policy(_Strict):
    """The whole institution policy file."""

    engagement: Engagement = Engagement()


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; ``PolicyError`` names the file and the bad field."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist (set LEAP_POLICY_FILE)") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: {problems}") from None


@lru_cache(maxsize=4)
def cached_policy(path: Path) -> Policy:
    """``load_policy`` once per path per process."""
    return load_policy(path)
