"""Austrian crypto tax report: engine, ledger loading, Koinly import and exports (see docs/areas/tax.md)."""
