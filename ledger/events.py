"""Log decoder: raw ``eth_getLogs`` entries of the ledger → :class:`LedgerEvent`.

Shared by the indexer and the auditor replay (they share the decoder, never the
projection). It reads the event ABI of ``ICommitmentLedger`` (plus OpenZeppelin's ownership
events) and decodes with eth-abi (its compiled build ``faster-eth-abi``: the same API and
values, pinned with web3 and brownie), with no node connection needed. It takes the logs as the
node sends them (raw JSON-RPC ``eth_getLogs`` entries: hex strings, no web3 formatting) and
web3's formatted ones (receipts).

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
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from eth_utils import event_abi_to_log_topic, to_checksum_address
from faster_eth_abi import decode as abi_decode

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
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def _bytes(value: Any) -> bytes:
    """A ``0x`` hex string (raw JSON-RPC, either case, prefix optional) or bytes (web3's
    ``HexBytes``) → bytes.

    Raises:
        ValueError: not hex.
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    text = str(value)
    return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)


def _int(value: Any) -> int:
    """A JSON-RPC quantity (``0x`` hex string) or an int → int."""
    return int(value, 16) if isinstance(value, str) else int(value)


@lru_cache(maxsize=65_536)
def checksum(address: str) -> str:
    """EIP-55 checksum of an address (``0x`` hex, any case), cached: a chain's events name the
    same few contracts and registrars again and again, and each checksum is a Keccak hash."""
    return to_checksum_address(address)


REPLACEMENT_CHARACTER = "\ufffd"
"""Shown for each invalid UTF-8 sequence."""

NUL_SYMBOL = "\u2400"
"""Shown for each NUL byte (U+2400 SYMBOL FOR NULL, "␀")."""


def decode_text(raw: bytes) -> str:
    """On-chain string bytes → the display text every reader shows: each invalid UTF-8
    sequence becomes U+FFFD, each NUL (U+0000) U+2400 "␀" (see module docstring). Never
    raises; never returns a NUL."""
    return bytes(raw).decode("utf-8", errors="replace").replace("\x00", NUL_SYMBOL)


def _wire_type(abi_type: str) -> str:
    """Strings are decoded as bytes first: the contract does not check UTF-8, and a log must
    never stop the indexer or the replay (see :func:`_normaliser`)."""
    return "bytes" if abi_type == "string" else abi_type


def _hex_of_bytes(value: bytes) -> str:
    return "0x" + value.hex()


def _normaliser(abi_type: str) -> Callable[[Any], Any] | None:
    """The function that turns a decoded value of ``abi_type`` into its JSON/SQL form (module
    docstring), chosen once per argument when the decoder is built; ``None`` keeps the value
    (integers, booleans). Strings have their own path (:data:`_TEXT`)."""
    if abi_type.endswith("[]"):
        item = _normaliser(abi_type[:-2])
        return list if item is None else (lambda values: [item(v) for v in values])
    if abi_type == "address":
        return checksum
    if abi_type.startswith("bytes"):
        return _hex_of_bytes
    return None


_TEXT = "text"
"""Marks a ``string`` argument: decoded from its bytes by :func:`decode_text`, raw bytes kept
when the text is not their exact UTF-8."""


@dataclass(frozen=True)
class _Layout:
    """How to decode one event, worked out once from its ABI entry: the eth-abi types of its
    indexed arguments (read from topics 1.., all 32-byte words) and of its data (strings as
    ``bytes``), and per argument in ABI order its snake_case name, its position among the
    decoded values (indexed ones first, then data ones) and its normaliser."""

    name: str
    indexed_types: tuple[str, ...]
    data_types: tuple[str, ...]
    fields: tuple[tuple[str, int, Any], ...]  # (name, position, normaliser | None | _TEXT)

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> "_Layout":
        """The layout of one event ABI entry.

        Raises:
            ValueError: an indexed argument of a dynamic type (its topic would hold only a
                hash; the ledger indexes none), so topics 1.. are always 32-byte words.
        """
        indexed = [i for i in entry["inputs"] if i["indexed"]]
        plain = [i for i in entry["inputs"] if not i["indexed"]]
        for spec in indexed:
            if spec["type"] in ("string", "bytes") or spec["type"].endswith("]") or spec["type"].startswith("tuple"):
                raise ValueError(f"{entry['name']}: indexed {spec['type']} {spec['name']} is not a 32-byte topic")
        position = {id(spec): n for n, spec in enumerate(indexed + plain)}
        return cls(
            name=entry["name"],
            indexed_types=tuple(i["type"] for i in indexed),
            data_types=tuple(_wire_type(i["type"]) for i in plain),
            fields=tuple(
                (snake(i["name"]), position[id(i)], _TEXT if i["type"] == "string" else _normaliser(i["type"]))
                for i in entry["inputs"]
            ),
        )


class EventDecoder:
    """Decodes the ledger's logs.

    The layout of every event (eth-abi types and normalisers) is worked out once, here; each
    log then costs one table look-up by topic 0 and two eth-abi calls, one for its data and
    one for all its indexed topics (static 32-byte words, decoded together).

    Args:
        abi: the contract ABI (entries of any type; only ``event`` entries are used).

    Raises:
        ValueError: an event indexes an argument of a dynamic type (see :meth:`_Layout.of`).
    """

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._by_topic: dict[str, _Layout] = {}  # "0x" + lowercase hex of topic 0
        for entry in abi:
            if entry.get("type") == "event" and not entry.get("anonymous", False):
                self._by_topic["0x" + bytes(event_abi_to_log_topic(dict(entry))).hex()] = _Layout.of(entry)

    def topics(self) -> list[str]:
        """Topic 0 of every known event, ``0x`` hex (for ``eth_getLogs`` filters)."""
        return list(self._by_topic)

    def topic_of(self, event_name: str) -> str:
        """Topic 0 of ``event_name``, ``0x`` hex.

        Raises:
            KeyError: unknown event name.
        """
        for topic, layout in self._by_topic.items():
            if layout.name == event_name:
                return topic
        raise KeyError(event_name)

    def decode(self, log: Mapping[str, Any]) -> LedgerEvent:
        """Decode one log: a raw ``eth_getLogs`` entry (JSON-RPC: ``0x`` hex strings and
        quantities) or web3's formatted one (``HexBytes`` and ints, as in receipts).

        Raises:
            EventDecodeError: the log's topic 0 is not an event of the ledger, it has not one
                32-byte topic per indexed argument, or its data does not match the event's ABI.
        """
        topics = [_hex(t) for t in log["topics"]]
        layout = self._by_topic.get(topics[0]) if topics else None
        if layout is None:
            raise EventDecodeError(f"Unknown event topic in log {log.get('logIndex')} of block {log.get('blockNumber')}")
        if len(topics) - 1 != len(layout.indexed_types):
            raise EventDecodeError(f"{layout.name}: expected {len(layout.indexed_types)} indexed topics, got {len(topics) - 1}")
        if any(len(t) != 66 for t in topics[1:]):
            raise EventDecodeError(f"{layout.name}: an indexed topic is not 32 bytes")
        try:
            values = abi_decode(layout.indexed_types, bytes.fromhex("".join([t[2:] for t in topics[1:]]))) if len(topics) > 1 else ()
            values += abi_decode(layout.data_types, _bytes(log["data"]))
        except Exception as exc:  # eth-abi raises several types, fromhex ValueError; all mean "does not match"
            raise EventDecodeError(f"{layout.name}: cannot decode log data: {exc}") from exc
        args: dict[str, Any] = {}
        raw_texts: dict[str, str] = {}
        for name, position, normalise in layout.fields:
            value = values[position]
            if normalise is None:
                args[name] = value
            elif normalise is _TEXT:
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    text = decode_text(value)
                    raw_texts[name] = "0x" + value.hex()
                else:
                    if "\x00" in text:
                        text = text.replace("\x00", NUL_SYMBOL)
                        raw_texts[name] = "0x" + value.hex()
                args[name] = text
            else:
                args[name] = normalise(value)
        return LedgerEvent(
            name=layout.name,
            args=args,
            block_number=_int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            transaction_hash=_hex(log["transactionHash"]),
            log_index=_int(log["logIndex"]),
            address=checksum(_hex(log["address"])),
            raw_texts=raw_texts,
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[LedgerEvent]:
        """Decode logs and return them in (block number, log index) order."""
        return sorted((self.decode(log) for log in logs), key=lambda e: e.order)
