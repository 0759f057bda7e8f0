"""REST API of ingestion: the dead letters."""
