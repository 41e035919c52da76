"""Exception tree of the auditor's replay (model: ape's and web3.py's ``exceptions.py``).

Everything raised on purpose derives from :class:`ReplayError`, itself a
:class:`ledger.errors.LedgerError`, with stdlib mixins so callers may also catch the usual
builtin. Messages say what is wrong and how to fix it; code matches on classes and their typed
attributes, never on message text.
"""

from __future__ import annotations

from ledger.errors import LedgerError


class ReplayError(LedgerError):
    """Root of every error the replay raises on purpose."""


class ReplayConfigError(ReplayError, ValueError):
    """The arguments do not describe a replay that can run (missing address, bad range,
    unreadable deployment record)."""


class ReplayChainError(ReplayError, ConnectionError):
    """The node could not be reached or answered a JSON-RPC request with an error.

    Attributes:
        rpc_url: the endpoint.
        method: the JSON-RPC method that failed, e.g. ``"eth_getLogs"``.
    """

    def __init__(self, rpc_url: str, method: str, reason: str) -> None:
        super().__init__(f"{method} on {rpc_url} failed: {reason}. Is the node running and is the URL right?")
        self.rpc_url = rpc_url
        self.method = method


class LogRangeRefusedError(ReplayChainError):
    """The node refused ``eth_getLogs`` even for a range of one block.

    Attributes:
        block_number: the block that could not be read.
    """

    def __init__(self, rpc_url: str, block_number: int, reason: str) -> None:
        super().__init__(rpc_url, "eth_getLogs", f"refused block {block_number}..{block_number}: {reason}")
        self.block_number = block_number


class ChainMismatchError(ReplayError):
    """The node does not serve the ledger named by the arguments (other chain id, no contract
    code at the address, or another block at the deploy block number)."""


class ApiFetchError(ReplayError, ConnectionError):
    """The API could not be read (unreachable, non-JSON answer, unexpected HTTP status).

    Attributes:
        url: the URL that failed.
        status_code: the HTTP status, ``None`` when no answer arrived.
    """

    def __init__(self, url: str, reason: str, status_code: int | None = None) -> None:
        super().__init__(f"GET {url} failed: {reason}. Is the API running and is --api-url right?")
        self.url = url
        self.status_code = status_code


class UnsupportedContractVersionError(ReplayError):
    """The contract's ``version()`` is not one this replay knows (docs/LEDGER.md "Versions":
    readers know ``2.1.0`` only). Replaying another ABI's events with these rules would
    report wrong facts, so the replay refuses to run (exit code 2).

    Attributes:
        address: the contract.
        version: what ``version()`` answered (``None`` when it has no such function).
        supported: the versions this replay knows.
    """

    def __init__(self, address: str, version: str | None, supported: tuple[str, ...]) -> None:
        shown = "no version()" if version is None else f"version {version!r}"
        super().__init__(
            f"The ledger at {address} reports {shown}; this replay knows {', '.join(supported)} only. "
            f"Use the replay of the release that matches the contract."
        )
        self.address = address
        self.version = version
        self.supported = supported
