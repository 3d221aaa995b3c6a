"""Tools outside the product's layers: the demo story and the ledger generator."""
