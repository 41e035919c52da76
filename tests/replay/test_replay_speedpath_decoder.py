"""The fast log decoder (``ledger.events``: raw JSON-RPC logs, one decoder table built once,
eth-abi called once for the data and once for all indexed topics) gives exactly the events of
the decoder it replaced (kept below as :func:`reference_decode`, the code of ``ledger/events.py``
before issue 8, which decoded web3's formatted logs one topic at a time): same names, args,
texts (U+FFFD, U+2400 for NUL), raw bytes and chain references, on the real logs of this
module's chain (every kind of fact of the replay scenario, plus texts no API would accept) and
on hypothesis-generated logs of every event of the ABI."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import pytest
from eth_abi import encode
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings, strategies as st
from web3 import HTTPProvider, Web3

from ledger.abi import ledger_abi
from ledger.chain import LedgerChain
from ledger.errors import EventDecodeError
from ledger.events import EventDecoder, LedgerEvent, decode_text, snake
from replay_support import Scenario
from scripts.audit.source import ChainSource

# ---------------------------------------------------------------- the decoder before issue 8


def _ref_hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value)
    if hasattr(value, "hex") and not text.startswith("0x"):
        text = value.hex()
    text = text.lower()
    return text if text.startswith("0x") else "0x" + text


def _ref_normalise(abi_type: str, value: Any) -> Any:
    if abi_type == "string":
        return decode_text(value)
    if abi_type.endswith("[]"):
        return [_ref_normalise(abi_type[:-2], v) for v in value]
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes"):
        return _ref_hex(value)
    return value


REFERENCE_TOPICS = {
    bytes(event_abi_to_log_topic(dict(e))): e for e in ledger_abi() if e["type"] == "event" and not e.get("anonymous")
}


def is_exact_text(raw: bytes, text: str) -> bool:
    return text.encode("utf-8") == bytes(raw)


def reference_decode(log: Mapping[str, Any]) -> LedgerEvent:
    """``EventDecoder.decode`` as it was before issue 8 (web3-formatted logs)."""
    from eth_abi import decode as abi_decode

    topics = [bytes.fromhex(_ref_hex(t)[2:]) for t in log["topics"]]
    if not topics or topics[0] not in REFERENCE_TOPICS:
        raise EventDecodeError("Unknown event topic")
    entry = REFERENCE_TOPICS[topics[0]]
    indexed = [i for i in entry["inputs"] if i["indexed"]]
    plain = [i for i in entry["inputs"] if not i["indexed"]]
    if len(topics) - 1 != len(indexed):
        raise EventDecodeError("indexed topics")
    try:
        data = bytes.fromhex(_ref_hex(log["data"])[2:])
        plain_values = abi_decode(["bytes" if i["type"] == "string" else i["type"] for i in plain], data)
        indexed_values = [abi_decode([i["type"]], t)[0] for i, t in zip(indexed, topics[1:])]
    except Exception as exc:
        raise EventDecodeError(f"cannot decode log data: {exc}") from exc
    values: dict[str, Any] = {}
    raw_texts: dict[str, str] = {}
    for spec, value in zip(indexed, indexed_values):
        values[spec["name"]] = _ref_normalise(spec["type"], value)
    for spec, value in zip(plain, plain_values):
        values[spec["name"]] = _ref_normalise(spec["type"], value)
        if spec["type"] == "string" and not is_exact_text(value, values[spec["name"]]):
            raw_texts[snake(spec["name"])] = _ref_hex(value)
    return LedgerEvent(
        name=entry["name"],
        args={snake(spec["name"]): values[spec["name"]] for spec in entry["inputs"]},
        block_number=int(log["blockNumber"]),
        block_hash=_ref_hex(log["blockHash"]),
        transaction_hash=_ref_hex(log["transactionHash"]),
        log_index=int(log["logIndex"]),
        address=to_checksum_address(log["address"]),
        raw_texts=raw_texts,
    )


def fields(event: LedgerEvent) -> tuple[Any, ...]:
    """Everything an event holds, raw texts included (they are left out of ``==``)."""
    return (*dataclasses.astuple(event), dict(event.raw_texts))


# ---------------------------------------------------------------- real logs

COMMITMENT_TYPES = "(uint32,bytes,bytes,bytes,bytes,uint64,bytes,uint64,uint64,bytes32,bytes,uint256,uint32)"
DELIVERY_TYPES = "(uint64,uint64,bytes32[],bytes,bytes,bytes,bytes)"


@pytest.fixture(scope="module")
def hostile_texts(scenario: Scenario, chain: LedgerChain, roles: Any, rpc_url: str) -> None:
    """A commitment and a delivery whose texts hold NUL bytes and invalid UTF-8 (raw calldata:
    the API would refuse them), after the scenario's facts."""
    w3 = Web3(HTTPProvider(rpc_url))

    def send(function: str, types: list[str], values: list[Any]) -> None:
        entry = next(e for e in chain.abi if e["type"] == "function" and e["name"] == function)
        data = bytes(function_abi_to_4byte_selector(entry)) + encode(types, values)
        tx = w3.eth.send_transaction({"from": roles.registrar.address, "to": chain.deployment.contract_address, "data": data})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    t = w3.eth.get_block("latest")["timestamp"]
    send("registerCommitment", [COMMITMENT_TYPES], [(
        1, b"hostile\x00\xff", b"Sch\x00ool \xff\xfe", b"\xc3", b"", 3, b"u\x00", 1_704_067_200, t + 86_400, b"\x01" * 32,
        b"\xe2\x82", 0, 0,
    )])
    commitment_id = int(chain.call("counts")[1])
    send("recordDelivery", ["uint256", DELIVERY_TYPES], [commitment_id, (
        1, t - 60, [b"\x02" * 32, b"\x03" * 32], b"\xff", b"\x00" * 5, b"ref\x00", b"\x00lamp\xff",
    )])


def test_real_logs_decode_to_the_same_events_as_before_from_raw_and_from_web3_logs(
    hostile_texts: None, chain: LedgerChain, rpc_url: str
) -> None:
    deploy, head = chain.deployment.deploy_block, chain.head_block_number()
    formatted = Web3(HTTPProvider(rpc_url)).eth.get_logs(
        {"address": chain.deployment.contract_address, "fromBlock": deploy, "toBlock": head}
    )
    raw = chain.get_logs(deploy, head)
    audit_raw = ChainSource(rpc_url).logs(chain.deployment.contract_address, deploy, head)
    decoder = EventDecoder(ledger_abi())

    expected = [fields(reference_decode(log)) for log in formatted]
    assert [fields(decoder.decode(log)) for log in raw] == expected
    assert [fields(decoder.decode(log)) for log in audit_raw] == expected
    assert [fields(decoder.decode(log)) for log in formatted] == expected  # receipts' logs stay web3's
    names = {row[0] for row in expected}
    assert len(expected) > 40 and len(names) >= 14
    assert any(row[-1] for row in expected)  # texts that needed their raw bytes kept


def test_raw_logs_are_plain_json_with_int_quantities_and_the_block_time(chain: LedgerChain, scenario: Scenario) -> None:
    deploy, head = chain.deployment.deploy_block, chain.head_block_number()
    logs = chain.get_logs(deploy, head)
    headers = chain.blocks([log["blockNumber"] for log in logs])
    for log in logs:
        assert type(log) is dict and isinstance(log["data"], str) and all(isinstance(t, str) for t in log["topics"])
        assert isinstance(log["blockNumber"], int) and isinstance(log["logIndex"], int)
        assert log["blockTimestamp"] == headers[log["blockNumber"]].timestamp  # anvil sends it
        assert log["blockHash"] == headers[log["blockNumber"]].hash


# ---------------------------------------------------------------- generated logs

EVENTS = [e for e in ledger_abi() if e["type"] == "event"]


def _value(abi_type: str) -> st.SearchStrategy[Any]:
    if abi_type.endswith("[]"):
        return st.lists(_value(abi_type[:-2]), max_size=3)
    if abi_type.startswith("uint"):
        return st.integers(min_value=0, max_value=2 ** int(abi_type[4:]) - 1)
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if abi_type == "bool":
        return st.booleans()
    if abi_type in ("string", "bytes"):  # strings go on the wire as any bytes
        return st.binary(max_size=40) | st.sampled_from([b"\x00", b"\xff\xfe", "Ünïcode ✓ ␀".encode(), b"a\x00b"])
    size = int(abi_type[5:])  # bytesN
    return st.binary(min_size=size, max_size=size)


@st.composite
def generated_logs(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One log of any event of the ABI: (raw JSON-RPC form, web3's formatted form)."""
    entry = draw(st.sampled_from(EVENTS))
    values = [draw(_value(i["type"])) for i in entry["inputs"]]
    wire = ["bytes" if i["type"] == "string" else i["type"] for i in entry["inputs"]]
    topics = [bytes(event_abi_to_log_topic(dict(entry)))] + [
        encode([t], [v]) for i, t, v in zip(entry["inputs"], wire, values) if i["indexed"]
    ]
    data = encode([t for i, t in zip(entry["inputs"], wire) if not i["indexed"]],
                  [v for i, v in zip(entry["inputs"], values) if not i["indexed"]])
    block, index = draw(st.integers(0, 2**40)), draw(st.integers(0, 5000))
    block_hash, tx_hash = draw(st.binary(min_size=32, max_size=32)), draw(st.binary(min_size=32, max_size=32))
    address = draw(st.binary(min_size=20, max_size=20))
    raw = {
        "address": "0x" + address.hex(), "topics": ["0x" + t.hex() for t in topics], "data": "0x" + data.hex(),
        "blockNumber": hex(block), "blockHash": "0x" + block_hash.hex(), "transactionHash": "0x" + tx_hash.hex(),
        "logIndex": hex(index), "removed": False,
    }
    formatted = {
        "address": to_checksum_address(address), "topics": [HexBytes(t) for t in topics], "data": HexBytes(data),
        "blockNumber": block, "blockHash": HexBytes(block_hash), "transactionHash": HexBytes(tx_hash), "logIndex": index,
    }
    return raw, formatted


DECODER = EventDecoder(ledger_abi())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_logs())
def test_generated_logs_of_every_event_decode_as_before(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    raw, formatted = pair
    assert fields(DECODER.decode(raw)) == fields(reference_decode(formatted))


def test_a_log_the_ledger_did_not_emit_is_a_decode_error() -> None:
    entry = next(e for e in EVENTS if e["name"] == "DeliveryRecorded")
    topic0 = "0x" + bytes(event_abi_to_log_topic(dict(entry))).hex()
    base = {"address": "0x" + "11" * 20, "data": "0x", "blockNumber": "0x1", "blockHash": "0x" + "22" * 32,
            "transactionHash": "0x" + "33" * 32, "logIndex": "0x0"}
    word = "0x" + "00" * 31 + "01"
    for topics, data in [
        (["0x" + "ee" * 32], "0x"),  # unknown event
        ([], "0x"),  # anonymous
        ([topic0, word], "0x"),  # one indexed topic short
        ([topic0, word, word, "0x" + "00" * 31], "0x"),  # a topic that is not 32 bytes
        ([topic0, word, word, word], "0x1234"),  # data that is no DeliveryRecorded
        ([topic0, word, word, "0xzz"], "0x"),  # not hex
    ]:
        with pytest.raises(EventDecodeError):
            DECODER.decode({**base, "topics": topics, "data": data})
