"""Ingest, validation and loading of the raw hotel bookings."""
