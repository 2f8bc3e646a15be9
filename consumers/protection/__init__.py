"""Data protection: subject-access export, erasure and retention (docs/data-protection.md).

The functions below are the storage layer's data-protection half, for the command line
(``consumers/protection/cli.py``) and the portal alike: each takes an autocommit psycopg
connection and the ``leap.access.Actor`` asking, and goes through the access policy and
the access log like ``consumers.records``. Pure parts (``archive``, ``cutoffs``,
``erasure_rules``, ``pseudonym``, ``tables``) are separate from the I/O shells (``sar``,
``erase``, ``retention``, ``kafka_io``, ``markers``).
"""

from consumers.protection.erase import Erasure, PartialErasure, StillEnrolled, erase_student
from consumers.protection.pseudonym import KeyMissing, subject
from consumers.protection.retention import Outcome, run_retention
from consumers.protection.sar import Export, export_sar

__all__ = ["Erasure", "Export", "KeyMissing", "Outcome", "PartialErasure", "StillEnrolled", "erase_student", "export_sar", "run_retention", "subject"]
