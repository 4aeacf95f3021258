"""Portfolio: the ledger of account movements, positions, snapshots and P&L."""
