"""The application layer: chainledger's use cases, one module per family."""
