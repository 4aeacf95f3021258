"""Demo mode: a deterministic synthetic market, a paper account and the data every page needs."""
