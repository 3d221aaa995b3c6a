"""Adapters: the SQL event store and its mapper, the Merkle tree beside it, imported events, the reader's verified store, key files and crypto."""
