"""``chainledger serve``: the ledger behind an HTTP service that organisations reach.

The service is the only holder of the database's credentials. Every answer about the
log is bound to a checkpoint signed with the service's own log key (``log.py``);
clients verify every row themselves and keep the newest checkpoint they verified, so
a service that rolls back, forks or alters what it serves is caught (see
``adapters.remote_store``). Organisations' private keys never reach it.
"""
