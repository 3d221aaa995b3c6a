"""Signed steps: the use cases that sign, written down as they run.

A use case marked ``@signed_step`` takes the signer first and its inputs after, as the
bulk import and a ledger service pass them (text, numbers, lists). Each call is noted
with the ledger (``LedgerPort.note_step``): a ledger reached over the network sends the
steps with the events they made, and the service runs them again to check that the
events are exactly what they make there (``application.submissions``); a ledger on its
own database has nothing to do with the note.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from chainledger.errors import InvalidValue

F = TypeVar("F", bound=Callable[..., Any])


def wire(value: Any) -> Any:
    """A use case's input as JSON carries it (numbers and dates as the text they came as)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return wire(value.value)
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): wire(v) for k, v in value.items()}
    raise InvalidValue(f"a {type(value).__name__} cannot be sent as a step's input")


def signed_step(method: F) -> F:
    """Mark a service's use case as a signed step (see the module's notes)."""
    name = method.__name__

    @functools.wraps(method)
    def run(self: Any, signer: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_stepping", False):  # a step inside a step is part of it
            return method(self, signer, *args, **kwargs)
        on = getattr(signer, "on", None)
        step = {"service": type(self).__name__, "method": name, "org": signer.org,
                "on": on.isoformat() if on else None, "args": wire(list(args)),
                "kwargs": wire({k: v for k, v in kwargs.items() if k != "uow"})}  # fmt: skip
        self.ledger.note_step(step)
        self._stepping = True
        try:
            return method(self, signer, *args, **kwargs)
        except BaseException:
            self.ledger.drop_step(step)  # refused here: nothing to send
            raise
        finally:
            self._stepping = False

    run.signed_step = True  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


def steps_of(service: type) -> frozenset[str]:
    """The names of ``service``'s signed steps."""
    return frozenset(name for name, member in vars(service).items()
                     if getattr(member, "signed_step", False))  # fmt: skip
