"""chainledger: a signed, event-sourced ledger of public-service supply chains."""

__version__ = "0.1.0"
