"""Avro schemas of LEAP's records and their single-object codec."""
