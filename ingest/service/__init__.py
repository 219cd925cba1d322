"""The ingest service: the Kafka consumer loop and the writer that stores a batch, its
lineage, rejects and offsets in one transaction."""
