"""``leap identities``: load the identity map, release quarantined events, see where things stand."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leap.console import fail, out
from leap.log import get_logger
from leap.settings import get_settings

log = get_logger("leap.identities")
identities_app = typer.Typer(help="The identity map: which student each source system's id (card, Moodle user, Panopto GUID...) stands for.",
                             no_args_is_help=True)  # fmt: skip


@identities_app.command("load")
def identities_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with student_id and any of moodle_user_id, username, email, card_number, panopto_user_id, windows_account.")],
    retry: Annotated[bool, typer.Option(help="Then release quarantined events the map now knows (leap identities retry).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of counts.")] = False,
) -> None:
    """Publish an identities file to the compacted identities topic (a roster with these columns is one too).

    A later file wins for an identity; a file giving one identity to two students has the
    second row rejected (dead-letter) rather than guessed.
    """
    from leap.kafka import DeliveryError
    from producers.identity_map import publish_identities

    settings = get_settings()
    try:
        counts = publish_identities(path, settings)
    except ValueError as exc:
        fail(f"{path}: {exc}")
    except DeliveryError as exc:
        fail(str(exc), 4)
    log.info("identities loaded", file=str(path), **counts.summary())
    if as_json:
        print(json.dumps(counts.summary()))
    else:
        out.print(f"{path.name}: {counts.read:,} rows read, {counts.published:,} students' identities published, {counts.rejected:,} rejected"
                  + (f" (see {settings.topic('dead-letter')})" if counts.rejected else ""))  # fmt: skip
        for reason, n in counts.rejected_by_reason.most_common():
            out.print(f"  rejected {n:,}: {reason}")
    if retry:
        identities_retry(as_json=as_json)


@identities_app.command("retry")
def identities_retry(as_json: Annotated[bool, typer.Option("--json", help="One JSON line of counts.")] = False) -> None:
    """Publish the quarantined events whose person the identity map now knows; the rest wait for the next retry."""
    from producers.identity_map import retry_quarantine

    settings = get_settings()
    counts = retry_quarantine(settings)
    log.info("quarantine retried", read=counts.read, released=counts.released, still_unknown=counts.still_unknown)
    if as_json:
        print(json.dumps({"read": counts.read, "released": counts.released, "still_unknown": counts.still_unknown}))
        return
    out.print(f"quarantine: {counts.read:,} waiting events read, {counts.released:,} published, {counts.still_unknown:,} still unknown")
    for namespace, n in counts.unknown_by_namespace.most_common():
        out.print(f"  still unknown {n:,}: {namespace} not in the identity map (load them with leap identities load)")


@identities_app.command("status")
def identities_status() -> None:
    """How many identities the map holds, by kind, and how many events wait in quarantine."""
    from leap.topics import group_lag
    from producers.identity_map import RETRY_GROUP, load_identity_map

    settings = get_settings()
    known = load_identity_map(settings)
    kinds = Counter(key.partition(":")[0] for key in known.keys())
    table = Table("identity", "known")
    for kind, n in sorted(kinds.items()):
        table.add_row(kind, f"{n:,}")
    out.print(table)
    quarantine = settings.topic("identity-quarantine")
    waiting = group_lag(settings, RETRY_GROUP.format(prefix=settings.topic_prefix), [quarantine])
    out.print(f"{waiting:,} events wait in {quarantine} for their person (leap identities retry publishes those now known)")
