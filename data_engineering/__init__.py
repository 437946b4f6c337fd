"""Data engineering: ingest, validation, versioned transformations and loading."""
