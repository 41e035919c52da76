"""The 2.1.0 part of `make run`'s set-up (``scripts.run_local.bootstrap_local_part2``) on the
test chain: a generated, funded relayer key in the staff key file, and per municipality a
generated confirmer its admin added, with a confirmer token; nothing is done twice on a re-run."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
from eth_account import Account

from ledger.chain import LedgerChain
from ledger.settings import Settings, load_settings
from ledger.staff import StaffRegistry
from scripts.deploy import ensure_deployed
from scripts.run_local import FUND_WEI, bootstrap_local, bootstrap_local_part2, local_platform_admin_key

IDS = {"GM0308": 1, "CL-GOB": 2}  # the mappings' municipalities, onboarded in mapping file name order


@pytest.fixture()
def local(rpc_url: str, tmp_path: Any) -> tuple[Settings, LedgerChain]:
    settings = load_settings({}, data_dir=tmp_path / "data", rpc_url=rpc_url)
    key = local_platform_admin_key(settings, LedgerChain(settings.rpc_url))
    deployment, _created = ensure_deployed(settings, key)
    chain = LedgerChain(settings.rpc_url, deployment)
    bootstrap_local(settings, chain, key)
    return settings, chain


def test_each_municipality_gets_a_confirmer_with_a_token_and_the_api_a_funded_relayer(
    local: tuple[Settings, LedgerChain],
) -> None:
    settings, chain = local
    relayer, tokens = bootstrap_local_part2(settings, chain)
    keys = json.loads((settings.data_dir / "local-keys.json").read_text())
    assert relayer == Account.from_key(keys["relayer_key"]).address
    assert chain.balance_wei(relayer) == FUND_WEI
    staff = StaffRegistry(settings.staff_keys_file)
    assert staff.relayer().account == relayer
    assert list(tokens) == list(IDS)
    path = settings.data_dir / "local-confirmer-tokens.json"
    assert json.loads(path.read_text()) == tokens
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for code, municipality_id in IDS.items():
        confirmer = Account.from_key(keys["municipalities"][code]["confirmer_key"]).address
        assert chain.call("isConfirmer", municipality_id, confirmer) is True
        assert chain.call("isRegistrar", municipality_id, confirmer) is False
        identity = staff.authenticate(tokens[code])
        assert (identity.municipality_id, identity.registrar, identity.roles) == (
            municipality_id, confirmer, frozenset({"confirmer"}))


def test_a_second_run_sends_nothing_and_keeps_keys_and_tokens(local: tuple[Settings, LedgerChain]) -> None:
    settings, chain = local
    first = bootstrap_local_part2(settings, chain)
    keys = (settings.data_dir / "local-keys.json").read_text()
    staff_keys = settings.staff_keys_file.read_text()
    head = chain.head_block_number()
    assert bootstrap_local_part2(settings, chain) == first
    assert chain.head_block_number() == head
    assert (settings.data_dir / "local-keys.json").read_text() == keys
    assert settings.staff_keys_file.read_text() == staff_keys
