"""Read models kept up to date from the ledger's notification log."""
