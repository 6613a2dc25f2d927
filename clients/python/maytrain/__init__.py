"""maytrain client: `maytrain.client` for ingestion workers, `maytrain.v1` for the stubs."""
