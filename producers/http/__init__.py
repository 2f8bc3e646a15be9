"""HTTP ingestion (``leap ingest serve``): xAPI statements, Caliper events and normalised events over HTTP."""
