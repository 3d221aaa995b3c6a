"""The one family of errors chainledger raises on purpose.

The CLI turns every ``ChainledgerError`` into ``Error: <message>`` on stderr with
exit status 1, so each message is written for the person at the terminal.
"""


class ChainledgerError(Exception):
    """Base class: something the user asked for cannot be done, and why."""


class InvalidValue(ChainledgerError):
    """A value given at the edge (handle, date, amount, ...) is not acceptable."""


class NotFound(ChainledgerError):
    """A ledger, organisation, package or event that was named does not exist."""


class Refused(ChainledgerError):
    """A rule of the domain refuses the step: wrong party, wrong order, wrong state."""


class Conflict(ChainledgerError):
    """Someone else recorded into the same aggregate at the same moment."""


class KeyProblem(ChainledgerError):
    """A private key is missing, unreadable, unsafe or locked with another passphrase."""


class LedgerUnavailable(ChainledgerError):
    """The ledger's database cannot be opened or reached."""


class TamperError(ChainledgerError):
    """Stored data fails its signature or chain check: it was altered or removed."""

    def __init__(
        self,
        message: str,
        *,
        aggregate_id: object = None,
        version: int | None = None,
        notification_id: int | None = None,
    ) -> None:
        self.reason = message
        self.aggregate_id = aggregate_id
        self.version = version
        self.notification_id = notification_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = []
        if self.notification_id is not None:
            where.append(f"notification {self.notification_id}")
        if self.aggregate_id is not None:
            where.append(f"aggregate {self.aggregate_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        location = f" ({', '.join(where)})" if where else ""
        return f"tampered ledger data{location}: {self.reason}"

    def located(self, notification_id: int | None) -> "TamperError":
        """The same error, naming the notification where it was found."""
        return TamperError(
            self.reason,
            aggregate_id=self.aggregate_id,
            version=self.version,
            notification_id=notification_id,
        )


class SecurityError(ChainledgerError):
    """A ledger service answered with a history that contradicts what this client verified
    before (rolled back, forked) or with data its own signed checkpoint does not cover.
    ``evidence`` names the file that keeps both signed checkpoints."""

    def __init__(self, message: str, evidence: object = None) -> None:
        self.evidence = evidence
        saved = f"; the evidence (both signed checkpoints) is in {evidence}" if evidence else ""
        super().__init__(f"SECURITY: {message}{saved}")


class ProofFailed(ChainledgerError):
    """A proof, checkpoint or bundle does not prove what it claims."""
