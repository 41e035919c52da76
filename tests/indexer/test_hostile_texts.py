"""Nothing a registrar writes stops the indexer: texts with NUL bytes, invalid UTF-8 and the
longest lengths the contract takes, written on the real chain with raw calldata (the API would
refuse them), indexed on SQLite and PostgreSQL, shown with U+FFFD for each invalid UTF-8 sequence and U+2400
"␀" for each NUL (ledger.events), the exact bytes kept in ``events.args["raw"]``."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest
from eth_abi import encode
from sqlalchemy import select
from eth_utils import function_abi_to_4byte_selector
from web3 import HTTPProvider, Web3

from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.db import repository
from ledger.db.models import EventRow
from ledger.events import decode_text
from ledger.limits import DESCRIPTION_MAX_BYTES, NOTE_MAX_BYTES, TITLE_MAX_BYTES
from ledger.settings import Settings
from tests.db.databases import BACKENDS, Database, fresh_database
from tests.indexer.ledger_txs import DAY, PROMISED, b32, sha

FFFD = "\ufffd"
NUL = "\u2400"
TITLE = b"Sch\x00ool \xff\xfe end"
LONG_TITLE = b"\xff" * TITLE_MAX_BYTES
DESCRIPTION = b"\x00\xff" * (DESCRIPTION_MAX_BYTES // 2)
NOTE = b"\x00" * NOTE_MAX_BYTES
COMMITMENT_TYPES = "(uint32,bytes,bytes,bytes,bytes,uint64,bytes,uint64,uint64,bytes32,bytes,uint256,uint32)"
DELIVERY_TYPES = "(uint64,uint64,bytes32[],bytes,bytes,bytes,bytes)"
ASSET = b"\x00lamp\xff 7"


def raw_call(chain: LedgerChain, function: str, types: list[str], values: list) -> bytes:
    """Calldata of ``function`` with every ``string`` encoded from raw ``bytes`` (same layout)."""
    entry = next(e for e in chain.abi if e["type"] == "function" and e["name"] == function)
    return bytes(function_abi_to_4byte_selector(entry)) + encode(types, values)


@pytest.fixture(scope="module")
def hostile(chain: LedgerChain, roles, chain_time: Callable[[], int], rpc_url: str) -> int:
    """Two commitments and a delivery whose texts are bytes no API would accept; returns the
    chain time after them."""
    w3 = Web3(HTTPProvider(rpc_url))
    t = chain_time()

    def send(data: bytes) -> None:
        tx_hash = w3.eth.send_transaction(
            {"from": roles.registrar.address, "to": chain.deployment.contract_address, "data": data}
        )
        assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1

    send(raw_call(chain, "registerCommitment", [COMMITMENT_TYPES], [(
        1, b"ref\x00\xff", TITLE, DESCRIPTION, b"\xc3", 10, b"\x00", PROMISED, t + 10 * DAY, b32(sha("s")), b"\xe2\x82", 0, 0,
    )]))
    send(raw_call(chain, "registerCommitment", [COMMITMENT_TYPES], [(
        1, b"x" * 64, LONG_TITLE, b"", b"", 1, b"u", PROMISED, t + 10 * DAY, b"\x00" * 32, b"", 0, 0,
    )]))
    send(raw_call(chain, "recordDelivery", ["uint256", DELIVERY_TYPES], [
        1, (3, t - DAY, [b32(sha("e"))], b"\xf0\x9f", NOTE, b"\xff", ASSET),
    ]))
    return chain_time()


@pytest.fixture(scope="module", params=BACKENDS)
def indexed(request, hostile: int, chain: LedgerChain, settings: Settings, tmp_path_factory) -> Iterator[Database]:
    with fresh_database(request.param, tmp_path_factory.mktemp("hostile")) as db:
        Indexer(chain, db.sessions, settings).run_once()
        yield db


def test_nul_is_shown_escaped_and_invalid_utf8_becomes_replacement_characters(indexed: Database, hostile: int) -> None:
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 1, hostile)
        found, total = repository.list_commitments(session, hostile, q="sch\u2400ool")
    assert detail["title"] == "Sch" + NUL + "ool " + FFFD * 2 + " end" == decode_text(TITLE)
    assert detail["description"] == (NUL + FFFD) * (DESCRIPTION_MAX_BYTES // 2)
    assert (detail["external_ref"], detail["theme"], detail["unit"], detail["source_uri"]) == (
        "ref" + NUL + FFFD, FFFD, NUL, FFFD,
    )
    delivery = detail["deliveries"][0]
    assert (delivery["note"], delivery["evidence_uri"], delivery["external_ref"]) == (NUL * NOTE_MAX_BYTES, FFFD, FFFD)
    assert (delivery["asset_ref"], delivery["double_counted"]) == (NUL + "lamp" + FFFD + " 7", False) == (decode_text(ASSET), False)
    assert detail["timeline"][0]["details"]["title"] == detail["title"]
    assert "\x00" not in repr(detail)
    assert ([c["id"] for c in found], total) == ([1], 1)


def test_the_exact_bytes_of_every_inexact_text_are_kept_and_exact_texts_have_none(indexed: Database) -> None:
    with indexed.sessions() as session:
        rows = session.scalars(select(EventRow).where(EventRow.name.in_(["CommitmentRegistered", "DeliveryRecorded"]))
                               .order_by(EventRow.block_number, EventRow.log_index)).all()
        errors = repository.event_error_count(session)
    first, second, delivery = (row.args for row in rows)
    assert first["raw"] == {
        "external_ref": "0x" + b"ref\x00\xff".hex(), "title": "0x" + TITLE.hex(), "description": "0x" + DESCRIPTION.hex(),
        "theme": "0xc3", "unit": "0x00", "source_uri": "0xe282",
    }
    assert second["raw"] == {"title": "0x" + LONG_TITLE.hex()}  # "x" * 64 and "u" are exact
    assert delivery["raw"] == {
        "evidence_uri": "0xf09f", "note": "0x" + NOTE.hex(), "external_ref": "0xff", "asset_ref": "0x" + ASSET.hex(),
    }
    assert errors == 0


def test_the_longest_title_of_invalid_bytes_fits_its_column(indexed: Database, hostile: int) -> None:
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 2, hostile)
    assert (detail["title"], detail["external_ref"]) == (FFFD * TITLE_MAX_BYTES, "x" * 64)


def test_a_nul_title_is_shown_escaped_by_the_api_and_the_site(indexed: Database, settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(settings.model_copy(update={"database_url": indexed.url}))) as client:
        api = client.get("/api/v1/commitments/1")
        page = client.get("/commitments/1")
    assert api.status_code == 200, api.text
    assert api.json()["title"] == "Sch" + NUL + "ool " + FFFD * 2 + " end"
    assert "\\u0000" not in api.text and "\x00" not in api.text
    assert page.status_code == 200
    assert "Sch" + NUL + "ool" in page.text and "\x00" not in page.text


def test_the_replay_shows_the_same_texts_as_the_index(
    indexed: Database, hostile: int, rpc_url: str, chain: LedgerChain, tmp_path_factory
) -> None:
    import json

    from typer.testing import CliRunner

    from scripts.replay import app

    report_path = tmp_path_factory.mktemp("replay") / "report.json"
    deployment = chain.deployment
    result = CliRunner().invoke(app, [
        "--rpc-url", rpc_url, "--address", deployment.contract_address, "--deploy-block", str(deployment.deploy_block),
        "--report", str(report_path), "--now", str(hostile),
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    replayed = {c["id"]: c for c in json.loads(report_path.read_text(encoding="utf-8"))["commitments"]}
    with indexed.sessions() as session:
        for commitment_id in (1, 2):
            detail = repository.get_commitment(session, commitment_id, hostile)
            for name in ("title", "description", "external_ref", "theme", "unit"):
                assert replayed[commitment_id][name] == detail[name], name
    assert replayed[1]["title"] == "Sch" + NUL + "ool " + FFFD * 2 + " end"
