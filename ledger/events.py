"""Log decoder: raw ``eth_getLogs`` entries of the ledger → :class:`LedgerEvent`.

Shared by the indexer and the auditor replay (they share the decoder, never the
projection). It reads the event ABI of ``ICommitmentLedger`` (plus OpenZeppelin's ownership
events) and decodes with eth-abi, with no node connection needed.

Decoded values are normalised for JSON and SQL: argument names in snake_case
(``commitmentId`` → ``commitment_id``), addresses EIP-55 checksummed, ``bytes32`` as
``0x``-prefixed lowercase hex (66 characters), integers as ``int``, strings as ``str``.

Strings: the contract stores any bytes (it checks lengths, not UTF-8), and nothing a
registrar writes may stop a reader. Each string has a display text, the one every reader
shows (:func:`decode_text`): the bytes decoded as UTF-8 with every invalid sequence replaced
by U+FFFD (Python's ``errors="replace"``), and every NUL (U+0000) then shown ESCAPED as
U+2400 SYMBOL FOR NULL ("␀"): PostgreSQL ``text`` cannot hold NUL, and the indexer and the
replay must show the same text. So a display text never contains U+0000, and its UTF-8
length can differ from the on-chain byte length (U+FFFD and U+2400 are 3 bytes each).

Faithful bytes: when a string's display text is not the exact UTF-8 of its bytes (invalid
UTF-8, or a NUL), the event also carries the exact bytes as ``0x`` hex in
:attr:`LedgerEvent.raw_texts` (argument name → hex; empty for the usual, exact texts). The
indexer keeps them in ``events.args["raw"]`` (docs/LEDGER.md "Texts"). A text holding a
genuine "␀" is exact UTF-8 and has no raw member, so the two stay apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from ledger.errors import EventDecodeError

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``commitmentId`` → ``commitment_id``."""
    return _CAMEL.sub("_", name).lower()


@dataclass(frozen=True)
class LedgerEvent:
    """One decoded event log.

    Attributes:
        name: event name as in the interface, e.g. ``"DeliveryRecorded"``.
        args: decoded arguments by snake_case name (see module docstring for value types).
        block_number: block of the log.
        block_hash: ``0x`` hex hash of that block.
        transaction_hash: ``0x`` hex hash of the transaction.
        log_index: position of the log in its block (0-based).
        address: emitting contract, checksummed.
        raw_texts: exact bytes (``0x`` hex) of each string argument whose display text is
            not their exact UTF-8, by snake_case name; empty when every text is exact.
    """

    name: str
    args: Mapping[str, Any]
    block_number: int
    block_hash: str
    transaction_hash: str
    log_index: int
    address: str
    raw_texts: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    order: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", (self.block_number, self.log_index))


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value)
    if hasattr(value, "hex") and not text.startswith("0x"):
        text = value.hex()
    text = text.lower()
    return text if text.startswith("0x") else "0x" + text


def _wire_type(abi_type: str) -> str:
    """Strings are decoded as bytes first: the contract does not check UTF-8, and a log must
    never stop the indexer or the replay (see :func:`_normalise`)."""
    return "bytes" if abi_type == "string" else abi_type


REPLACEMENT_CHARACTER = "\ufffd"
"""Shown for each invalid UTF-8 sequence."""

NUL_SYMBOL = "\u2400"
"""Shown for each NUL byte (U+2400 SYMBOL FOR NULL, "␀")."""


def decode_text(raw: bytes) -> str:
    """On-chain string bytes → the display text every reader shows: each invalid UTF-8
    sequence becomes U+FFFD, each NUL (U+0000) U+2400 "␀" (see module docstring). Never
    raises; never returns a NUL."""
    return bytes(raw).decode("utf-8", errors="replace").replace("\x00", NUL_SYMBOL)


def is_exact_text(raw: bytes, text: str) -> bool:
    """Whether ``text`` (``decode_text(raw)``) is the exact UTF-8 of ``raw``, i.e. no raw
    bytes need keeping."""
    return text.encode("utf-8") == bytes(raw)


def _normalise(abi_type: str, value: Any) -> Any:
    if abi_type == "string":
        return decode_text(value)
    if abi_type.endswith("[]"):
        return [_normalise(abi_type[:-2], v) for v in value]
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes"):
        return _hex(value)
    if isinstance(value, bytes):  # pragma: no cover - no other bytes types in the ABI
        return _hex(value)
    return value


class EventDecoder:
    """Decodes the ledger's logs.

    Args:
        abi: the contract ABI (entries of any type; only ``event`` entries are used).
    """

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._by_topic: dict[bytes, Mapping[str, Any]] = {}
        for entry in abi:
            if entry.get("type") == "event" and not entry.get("anonymous", False):
                self._by_topic[bytes(event_abi_to_log_topic(dict(entry)))] = entry

    def topics(self) -> list[str]:
        """Topic 0 of every known event, ``0x`` hex (for ``eth_getLogs`` filters)."""
        return ["0x" + t.hex() for t in self._by_topic]

    def topic_of(self, event_name: str) -> str:
        """Topic 0 of ``event_name``, ``0x`` hex.

        Raises:
            KeyError: unknown event name.
        """
        for topic, entry in self._by_topic.items():
            if entry["name"] == event_name:
                return "0x" + topic.hex()
        raise KeyError(event_name)

    def decode(self, log: Mapping[str, Any]) -> LedgerEvent:
        """Decode one raw log (a dict as returned by ``eth_getLogs``/web3).

        Raises:
            EventDecodeError: the log's topic 0 is not an event of the ledger, or its data
                does not match the event's ABI.
        """
        topics = [bytes.fromhex(_hex(t)[2:]) for t in log["topics"]]
        if not topics or topics[0] not in self._by_topic:
            raise EventDecodeError(f"Unknown event topic in log {log.get('logIndex')} of block {log.get('blockNumber')}")
        entry = self._by_topic[topics[0]]
        indexed = [i for i in entry["inputs"] if i["indexed"]]
        plain = [i for i in entry["inputs"] if not i["indexed"]]
        if len(topics) - 1 != len(indexed):
            raise EventDecodeError(f"{entry['name']}: expected {len(indexed)} indexed topics, got {len(topics) - 1}")
        try:
            data = bytes.fromhex(_hex(log["data"])[2:])
            plain_values = abi_decode([_wire_type(i["type"]) for i in plain], data)
            # Indexed strings would be topics holding only their hash; the ledger indexes none.
            indexed_values = [abi_decode([i["type"]], t)[0] for i, t in zip(indexed, topics[1:])]
        except Exception as exc:  # eth-abi raises several types; all mean "does not match"
            raise EventDecodeError(f"{entry['name']}: cannot decode log data: {exc}") from exc
        values: dict[str, Any] = {}
        raw_texts: dict[str, str] = {}
        for spec, value in zip(indexed, indexed_values):
            values[spec["name"]] = _normalise(spec["type"], value)
        for spec, value in zip(plain, plain_values):
            values[spec["name"]] = _normalise(spec["type"], value)
            if spec["type"] == "string" and not is_exact_text(value, values[spec["name"]]):
                raw_texts[snake(spec["name"])] = _hex(value)
        args = {snake(spec["name"]): values[spec["name"]] for spec in entry["inputs"]}
        return LedgerEvent(
            name=entry["name"],
            args=args,
            block_number=int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            transaction_hash=_hex(log["transactionHash"]),
            log_index=int(log["logIndex"]),
            address=to_checksum_address(log["address"]),
            raw_texts=raw_texts,
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[LedgerEvent]:
        """Decode logs and return them in (block number, log index) order."""
        return sorted((self.decode(log) for log in logs), key=lambda e: e.order)
