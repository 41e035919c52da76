"""Exception tree of the ledger (model: ape's and web3.py's ``exceptions.py``).

Every error raised on purpose derives from :class:`LedgerError`. Domain groups below it,
with stdlib mixins where they fit, so callers can catch by meaning (``except
LedgerConfigError``) and never by message text. Messages say how to fix the problem.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


class LedgerError(Exception):
    """Root of every error this project raises on purpose."""


class LedgerConfigError(LedgerError, ValueError):
    """A setting is missing, malformed or unsafe for the environment it runs in."""


class DeploymentNotFoundError(LedgerConfigError, FileNotFoundError):
    """No deployment record (contract address and deploy block) exists yet."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"No ledger deployment recorded at {path}. Deploy first: `make run` does it, "
            f"or `.venv/bin/python -m scripts.deploy`."
        )
        self.path = path


class ArtifactNotFoundError(LedgerConfigError, FileNotFoundError):
    """The compiled contract artifacts are missing."""

    def __init__(self, path: str) -> None:
        super().__init__(f"Contract artifact {path} not found. Compile first: `make compile`.")
        self.path = path


class ChainError(LedgerError):
    """Talking to the chain failed."""


class ChainUnavailableError(ChainError, ConnectionError):
    """The JSON-RPC endpoint cannot be reached or answered with a transport error."""

    def __init__(self, rpc_url: str, reason: str) -> None:
        super().__init__(f"Chain at {rpc_url} is unavailable: {reason}. Is the node running?")
        self.rpc_url = rpc_url
        self.reason = reason


class WrongChainError(ChainError):
    """The node answers for another chain than the deployment record names."""

    def __init__(self, expected_chain_id: int, actual_chain_id: int) -> None:
        super().__init__(
            f"Node reports chain id {actual_chain_id}, the deployment record says "
            f"{expected_chain_id}. Point LEDGER_RPC_URL at the right node."
        )
        self.expected_chain_id = expected_chain_id
        self.actual_chain_id = actual_chain_id


class ChainRpcError(ChainError):
    """The node answered a JSON-RPC request with an error response (not a transport error,
    not a missing block): ``method`` is the JSON-RPC method, ``code`` the error object's code
    (``None`` when the response had none), ``reason`` its message. The indexer retries it with
    backoff; it never means a reorg."""

    def __init__(self, method: str, code: int | None, reason: str, *, what: str | None = None) -> None:
        super().__init__(f"{what or method} answered with JSON-RPC error {code}: {reason}")
        self.method = method
        self.code = code
        self.reason = reason


class LogRangeTooLargeError(ChainRpcError):
    """The provider answered ``eth_getLogs`` over ``from_block..to_block`` (inclusive) with an
    error response (any ``code``: hosted providers refuse block ranges and result counts with
    -32602, -32005 and others), i.e. refused it; callers halve the range."""

    def __init__(self, from_block: int, to_block: int, reason: str, code: int | None = None) -> None:
        super().__init__("eth_getLogs", code, reason, what=f"eth_getLogs over blocks {from_block}..{to_block} (inclusive)")
        self.from_block = from_block
        self.to_block = to_block


class ContractRevertError(ChainError):
    """The ledger contract refused a call with one of its custom errors.

    Attributes:
        name: the custom error's name, e.g. ``"LedgerNotRegistrar"``.
        args_by_name: its arguments by parameter name, values as decoded (ints, str, bytes).
    """

    def __init__(self, name: str, args_by_name: dict[str, Any]) -> None:
        rendered = ", ".join(f"{k}={v!r}" for k, v in args_by_name.items())
        super().__init__(f"Ledger contract refused: {name}({rendered})")
        self.name = name
        self.args_by_name = args_by_name


class TransactionFailedError(ChainError):
    """A transaction was mined but failed without a decodable custom error."""

    def __init__(self, tx_hash: str, reason: str) -> None:
        super().__init__(f"Transaction {tx_hash} failed: {reason}")
        self.tx_hash = tx_hash


class TransactionRejectedError(ChainError):
    """The node refused a signed transaction at ``eth_sendRawTransaction`` (already known,
    nonce too low, underpriced, ...). Its text is the node's, for logs only: the outbox decides
    what happened from chain state (nonces, receipts), never from this text."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The node refused the transaction: {reason}")
        self.reason = reason


class InsufficientFundsError(ChainError):
    """The sending account cannot pay for the transaction (checked before sending, so nothing
    was sent): its balance is below gas limit × max fee per gas, in wei."""

    def __init__(self, account: str, balance_wei: int, needed_wei: int) -> None:
        super().__init__(f"Account {account} holds {balance_wei} wei; the transaction needs up to {needed_wei} wei")
        self.account = account
        self.balance_wei = balance_wei
        self.needed_wei = needed_wei


class ReorgDetectedError(ChainError):
    """The block hash stored with the indexer's checkpoint is no longer on the chain."""

    def __init__(self, block_number: int, stored_hash: str, chain_hash: str | None) -> None:
        super().__init__(
            f"Reorg detected at block {block_number}: indexed hash {stored_hash}, chain has "
            f"{chain_hash}. Rebuild the index from the deploy block (`make reindex`)."
        )
        self.block_number = block_number
        self.stored_hash = stored_hash
        self.chain_hash = chain_hash


class EventDecodeError(LedgerError, ValueError):
    """A log from the ledger's address does not match any event of the interface."""


class UnsupportedContractVersionError(ChainError):
    """The contract reports a ``version()`` this code does not know how to read
    (docs/LEDGER.md "Versions"; the known ones are ``ledger.chain.SUPPORTED_CONTRACT_VERSIONS``)."""

    def __init__(self, version: str, supported: tuple[str, ...]) -> None:
        super().__init__(
            f"The ledger contract reports version {version!r}; this code reads only "
            f"{', '.join(supported)}. Upgrade the indexer/replay, or point LEDGER_RPC_URL and the "
            f"deployment record at a supported contract."
        )
        self.version = version
        self.supported = supported


class IndexSchemaError(LedgerError):
    """The index database was written by another schema version (e.g. a v1 index): it is
    refused as a whole rather than half-used. Rebuild it from the deploy block (`make reindex`)."""

    def __init__(self, found: str | None, expected: str) -> None:
        what = "no schema version (a v1 index or another program's tables)" if found is None else f"schema version {found!r}"
        super().__init__(
            f"The index database holds {what}; this code needs schema version {expected!r}. "
            f"Rebuild the index from the chain: `make reindex`."
        )
        self.found = found
        self.expected = expected


class ProjectionError(LedgerError):
    """An event cannot be applied to the index: it refers to a municipality, commitment or
    delivery the index does not have (a gap, or another contract's logs), or it has no
    projection. Rebuild the index from the deploy block (`make reindex`)."""


class EvidenceError(LedgerError):
    """Evidence storage problems."""


class EvidenceTooLargeError(EvidenceError, ValueError):
    """An evidence file is larger than the configured maximum."""

    def __init__(self, size_bytes: int, max_bytes: int) -> None:
        super().__init__(f"Evidence file of {size_bytes} bytes exceeds the maximum of {max_bytes} bytes.")
        self.size_bytes = size_bytes
        self.max_bytes = max_bytes


class StaffAuthError(LedgerError):
    """A staff token is missing, unknown or bound to another municipality."""


class SignInRefusedError(StaffAuthError):
    """A staff sign-in (``ledger.accounts.StaffAccounts.sign_in``) is refused: unknown login,
    wrong password, or a wrong or already used authenticator code. One type and one message
    for all three, so an answer never tells whether a login exists (OWASP Authentication Cheat
    Sheet, "Authentication and Error Messages")."""

    MESSAGE = (
        "Sign-in refused: the login, password or authenticator code is not right (each code "
        "counts once). Check them, wait for the next code and try again; an administrator of "
        "your municipality can reset the account."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.MESSAGE)


class AccountLockedError(SignInRefusedError):
    """The account is locked after too many consecutive failed sign-ins, until
    ``locked_until`` (Unix seconds); refused even with the right credentials until then."""

    def __init__(self, locked_until: int) -> None:
        when = datetime.fromtimestamp(locked_until, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"Sign-in refused: too many failed attempts; the account is locked until {when} "
            f"(Unix {locked_until}). Try again after that, or ask an administrator of your "
            f"municipality to enable the account."
        )
        self.locked_until = locked_until


class AccountDisabledError(SignInRefusedError):
    """The account is disabled by an administrator (``account_id`` when known)."""

    def __init__(self, account_id: int | None = None) -> None:
        super().__init__(
            "Sign-in refused: this account is disabled. Ask an administrator of your "
            "municipality to enable it."
        )
        self.account_id = account_id


class AccountInputError(LedgerError, ValueError):
    """A staff account's input is refused: ``field`` (``login``, ``display_name``, ``roles``,
    ``signer``, ``password``) and ``code`` (``invalid``, ``taken``, ``empty``, ``required``,
    ``too_short``, ``too_long``, ``wrong``) say which and why; the message says how to fix it."""

    MESSAGES = {
        ("login", "invalid"): "A login is 3 to 64 characters of a-z, 0-9, '.', '_', '@' and '-' "
                              "(compared without case).",
        ("login", "taken"): "This login is taken; choose another one.",
        ("display_name", "invalid"): "A display name is 1 to 120 characters, without control characters.",
        ("roles", "invalid"): "Roles are admin, registrar and confirmer; give only those.",
        ("roles", "empty"): "Give at least one role: admin, registrar or confirmer.",
        ("signer", "invalid"): "The signer is a 0x-prefixed 20-byte address (40 hex digits).",
        ("signer", "required"): "A registrar or confirmer needs a signer: the address of the chain "
                                "account whose key signs their writes.",
        ("password", "wrong"): "The current password is not right; type it again.",
        ("password", "too_long"): "A password is at most 1024 characters.",
    }

    def __init__(self, field: str, code: str, message: str | None = None) -> None:
        super().__init__(message or self.MESSAGES.get((field, code), f"The {field} is not accepted ({code})."))
        self.field = field
        self.code = code


class UnknownAccountError(LedgerError, LookupError):
    """No staff account has id ``account_id``."""

    def __init__(self, account_id: int) -> None:
        super().__init__(f"No staff account has id {account_id}; "
                         f"list the accounts of your municipality for the ids.")
        self.account_id = account_id
