"""The pure domain: values, signed events and aggregates. No I/O, no keys, no SQL."""
