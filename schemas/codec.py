"""Avro single-object encoding of LEAP's records, with every version of every schema known.

Wire format (Avro specification, "Single-object encoding"): ``C3 01``, then the 8-byte
little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then
the Avro binary body. The fingerprint tells a reader exactly which schema version wrote a
message, so a reader resolves any older version into the current one (schema evolution)
without a schema registry service.

Schemas live in ``schemas/avro/<name>.v<N>.avsc``; the highest N of a name is current.
Adding a version: copy the latest file, bump N, make only changes Avro can resolve (new
fields with defaults, removed fields, enum symbols with a default), never edit an old file.

In Python the records are plain dicts. Timestamps are ints (UTC milliseconds): the
``timestamp-millis`` annotation stays in the .avsc files for other readers, but is not
materialised into ``datetime`` here because the stream's hot path needs plain ints. The
annotation is not part of the Parsing Canonical Form, so fingerprints are unaffected.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
SCHEMA_DIR = Path(__file__).resolve().parent / "avro"
_FILE_NAME = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.avsc$")


class CodecError(ValueError):
    """A message that cannot be decoded (or a record that cannot be encoded), with the reason."""


def fingerprint(schema: Any) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, as on the wire."""
    return bytes.fromhex(_fastavro_fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def _strip_logical_types(node: Any) -> Any:
    # See the module docstring: timestamps stay ints in Python.
    if isinstance(node, dict):
        return {k: _strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical_types(v) for v in node]
    return node


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one record schema."""

    name: str
    version: int
    fingerprint: bytes
    parsed: Any


class Codec:
    """Encodes records with the current version of their schema; decodes any known version."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self._versions: dict[str, dict[int, SchemaVersion]] = {}
        for path in sorted(schema_dir.glob("*.avsc")):
            match = _FILE_NAME.match(path.name)
            if not match:
                raise CodecError(f"{path}: schema files are named <name>.v<N>.avsc")
            raw = json.loads(path.read_text())
            version = SchemaVersion(
                name=match["name"],
                version=int(match["version"]),
                fingerprint=fingerprint(raw),
                parsed=parse_schema(_strip_logical_types(raw)),
            )
            if version.fingerprint in self._by_fingerprint:
                other = self._by_fingerprint[version.fingerprint]
                raise CodecError(f"{path}: same canonical schema as {other.name} v{other.version}")
            self._by_fingerprint[version.fingerprint] = version
            self._versions.setdefault(version.name, {})[version.version] = version
        self._current = {name: versions[max(versions)] for name, versions in self._versions.items()}

    @property
    def names(self) -> list[str]:
        """The record names this codec knows."""
        return sorted(self._current)

    def current(self, name: str) -> SchemaVersion:
        """The version new records of ``name`` are written with."""
        try:
            return self._current[name]
        except KeyError:
            raise CodecError(f"unknown schema {name!r}; known: {', '.join(self.names)}") from None

    def version(self, name: str, version: int) -> SchemaVersion:
        """A specific version of a schema (e.g. to write test data as an old producer would)."""
        self.current(name)
        try:
            return self._versions[name][version]
        except KeyError:
            raise CodecError(f"schema {name!r} has no version {version}") from None

    def encode(self, name: str, record: dict[str, Any], version: int | None = None) -> bytes:
        """Single-object encode ``record`` with the current (or the given) version of ``name``."""
        schema = self.current(name) if version is None else self.version(name, version)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        try:
            schemaless_writer(out, schema.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"record does not fit {name} v{schema.version}: {exc}") from exc
        return out.getvalue()

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema version that wrote ``data``, from its header."""
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise CodecError(
                f"not an Avro single-object encoded message (starts {data[:2].hex() or 'empty'}, expected c301)"
            )
        fp = bytes(data[2:HEADER_SIZE])
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise CodecError(
                f"unknown schema fingerprint {fp.hex()}: written with a schema this reader does not have "
                f"(known: {', '.join(f'{v.name} v{v.version}' for v in self._by_fingerprint.values())})"
            ) from None

    def decode(self, data: bytes, expect: str | None = None) -> dict[str, Any]:
        """Decode a message into the current version of its schema (``expect``: required name)."""
        writer = self.writer_of(data)
        if expect is not None and writer.name != expect:
            raise CodecError(f"message is a {writer.name}, expected a {expect}")
        reader = self._current[writer.name]
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            if reader is writer:
                record = schemaless_reader(body, writer.parsed, None)
            else:
                record = schemaless_reader(body, writer.parsed, reader.parsed)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
            raise CodecError(f"corrupt {writer.name} v{writer.version} body: {exc!r}") from exc
        if body.tell() != len(data):
            raise CodecError(f"{len(data) - body.tell()} bytes left over after a {writer.name} body")
        return record  # type: ignore[return-value]


@lru_cache(maxsize=1)
def default_codec() -> Codec:
    """The process-wide codec over the schemas shipped with LEAP."""
    return Codec()
