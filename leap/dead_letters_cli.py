"""``leap dead-letters``: what was rejected, by source and reason, and each record whole.

Reading only; nothing is committed, so any number of people can look. ``leap dead-letters
replay`` (``producers.produce_cli``) reads records again through their adapters after a fix;
re-publishing a corrected file with ``leap produce`` works too (event ids make repeats harmless).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Optional

import typer
from rich.table import Table

from leap.console import fail, out
from leap.settings import get_settings

dead_letters_app = typer.Typer(help="Records rejected by an adapter or the engine: counts by source and reason, and each one whole.", no_args_is_help=True)


def _letters(source: str | None = None, **window: int) -> list[dict]:
    """The dead letters (of ``source``), in the offsets ``window`` gives ``read_dead_letters``."""
    from confluent_kafka import KafkaException

    from leap.dead_letter import read_dead_letters
    from schemas.codec import default_codec

    try:
        letters = list(read_dead_letters(get_settings(), default_codec(), **window))
    except (KafkaException, RuntimeError) as exc:
        fail(f"cannot read the dead-letter topic: {exc}", 4)
    return [letter for letter in letters if source is None or letter["source"] == source]


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")


def _raw_text(raw: bytes) -> str:
    """The record as text where it is text; otherwise its bytes, escaped."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="backslashreplace")


@dead_letters_app.command("list")
def dead_letters_list(
    source: Annotated[Optional[str], typer.Option(help="Only this source (moodle, events, roster, engine...).")] = None,
    last: Annotated[int, typer.Option(min=0, help="Show this many of the newest records under the counts.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record (raw left out), then none of the tables.")] = False,
) -> None:
    """Count the rejected records by source and kind of reason, then list the newest."""
    from leap.dead_letter import summarise

    letters = _letters(source)
    if as_json:
        for letter in letters:
            print(json.dumps({k: v for k, v in letter.items() if k not in ("raw", "context")} | {"raw_bytes": len(letter["raw"])}))
        return
    counts = Table("source", "reason", "records", title=f"dead letters ({len(letters):,})")
    for (src, kind), n in summarise(letters).most_common():
        counts.add_row(src, kind, f"{n:,}")
    out.print(counts)
    if last and letters:
        newest = Table("offset", "rejected", "source", "where", "reason", title=f"newest {min(last, len(letters))} (leap dead-letters show OFFSET)")
        for letter in letters[-last:]:
            newest.add_row(str(letter["offset"]), _when(letter["rejected_at"]), letter["source"], f"{letter['location']} {letter['position']}", letter["reason"][:160])
        out.print(newest)


@dead_letters_app.command("show")
def dead_letters_show(
    offset: Annotated[int, typer.Argument(min=0, help="The record's offset (from leap dead-letters list).")],
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object; raw as text (bytes that are not UTF-8 escaped).")] = False,
) -> None:
    """Show one rejected record whole: where it came from, why, and its exact content."""
    found = next(iter(_letters(start=offset, stop=offset + 1)), None)
    if found is None:
        fail(f"no dead letter at offset {offset}", 2)
    text = _raw_text(found["raw"])
    if as_json:
        context = None if found.get("context") is None else _raw_text(found["context"])
        print(json.dumps({**{k: v for k, v in found.items() if k not in ("raw", "context")}, "raw": text, "raw_bytes": len(found["raw"]), "context": context}))
        return
    out.print(f"offset {offset}, rejected {_when(found['rejected_at'])} by {found['source']}", highlight=False)
    out.print(f"from {found['location']} {found['position']}", highlight=False, soft_wrap=True)
    out.print(f"reason: {found['reason']}", highlight=False, soft_wrap=True, markup=False)
    if found.get("context"):
        out.print(f"its file's header: {_raw_text(found['context']).rstrip()}", highlight=False, soft_wrap=True, markup=False)
    out.print(f"record ({len(found['raw']):,} bytes):", highlight=False)
    out.print(text, highlight=False, soft_wrap=True, markup=False)
