"""Account sync: Bitpanda (retail API and CSV export) into the ledger."""
