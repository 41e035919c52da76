"""The local set-up of `make run` on the test chain (v2 roles): a generated platform admin
deploys and onboards each source's municipality with its own admin, who adds the registrar;
nothing is done twice on a re-run; nothing is handed out outside local use."""

from __future__ import annotations

import json
import stat

import pytest
from eth_account import Account

from ledger.chain import LedgerChain
from ledger.errors import LedgerError
from ledger.settings import load_settings
from ledger.staff import StaffRegistry
from scripts.admin import find_municipality, onboard_municipality
from scripts.deploy import ensure_deployed
from scripts.local_keys import WELL_KNOWN_KEYS
from scripts.run_local import bootstrap_local, check_local, local_platform_admin_key

IDS = {"GM0308": 1, "CL-GOB": 2}  # the mappings' municipalities, onboarded in mapping file name order


@pytest.fixture()
def settings(rpc_url, tmp_path):
    return load_settings({}, data_dir=tmp_path / "data", rpc_url=rpc_url)


@pytest.fixture()
def deployed(settings):
    """(platform admin key, chain client of the deployed ledger)."""
    key = local_platform_admin_key(settings, LedgerChain(settings.rpc_url))
    deployment, created = ensure_deployed(settings, key)
    assert created
    return key, LedgerChain(settings.rpc_url, deployment)


def test_the_platform_admin_key_is_generated_saved_private_funded_and_reused(settings):
    chain = LedgerChain(settings.rpc_url)
    key = local_platform_admin_key(settings, chain)
    path = settings.data_dir / "local-keys.json"
    assert json.loads(path.read_text())["platform_admin_key"] == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key not in WELL_KNOWN_KEYS
    address = Account.from_key(key).address
    assert chain.balance_wei(address) == 100 * 10**18
    assert local_platform_admin_key(settings, chain) == key
    assert chain.balance_wei(address) == 100 * 10**18  # funded once


def test_the_generated_platform_admin_owns_the_ledger(deployed):
    key, chain = deployed
    assert chain.call("owner") == Account.from_key(key).address


def test_onboarding_gives_each_municipality_its_own_admin_who_adds_the_registrar(settings, deployed):
    key, chain = deployed
    tokens = bootstrap_local(settings, chain, key)
    keys = json.loads((settings.data_dir / "local-keys.json").read_text())
    assert list(tokens) == list(keys["municipalities"]) == list(IDS)
    platform = Account.from_key(key).address
    staff = StaffRegistry(settings.staff_keys_file)
    for code, municipality_id in IDS.items():
        entry = keys["municipalities"][code]
        admin, registrar = (Account.from_key(entry[k]).address for k in ("admin_key", "registrar_key"))
        assert len({admin, registrar, platform}) == 3
        assert find_municipality(chain, admin, code) == municipality_id
        assert chain.call("municipalityAdmin", municipality_id) == admin
        assert chain.call("isRegistrar", municipality_id, registrar) is True
        assert chain.call("isRegistrar", municipality_id, platform) is False
        identity = staff.authenticate(tokens[code])
        assert (identity.municipality_id, identity.registrar) == (municipality_id, registrar)
    events = [e.name for e in chain.decoder.decode_all(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))]
    assert events.count("MunicipalityRegistered") == 2 and events.count("RegistrarAdded") == 2


def test_a_second_bootstrap_sends_nothing_and_keeps_the_tokens(settings, deployed):
    key, chain = deployed
    tokens = bootstrap_local(settings, chain, key)
    head = chain.head_block_number()
    assert bootstrap_local(settings, chain, key) == tokens
    assert chain.head_block_number() == head


def test_a_municipality_is_found_again_by_its_admin_after_a_handover(settings, deployed):
    key, chain = deployed
    first, second = Account.create(), Account.create()
    for account in (first, second):
        chain.transfer_ether(WELL_KNOWN_KEYS[0], account.address, 10**18)
    municipality_id = onboard_municipality(chain, key, "Testdorp", "GM9999", first.address)
    chain.send("proposeMunicipalityAdmin", [municipality_id, second.address], first.key.hex())
    chain.send("acceptMunicipalityAdmin", [municipality_id], second.key.hex())
    head = chain.head_block_number()
    assert onboard_municipality(chain, key, "Testdorp", "GM9999", second.address) == municipality_id
    assert find_municipality(chain, first.address, "GM9999") == municipality_id  # registered with it
    assert find_municipality(chain, Account.create().address, "GM9999") is None
    assert chain.head_block_number() == head


def test_local_set_up_is_refused_outside_local_use(rpc_url, tmp_path):
    production = load_settings({}, env="production", data_dir=tmp_path, rpc_url=rpc_url,
                               database_url=f"sqlite:///{tmp_path}/x.sqlite3")
    with pytest.raises(LedgerError, match="make run is for local use only"):
        check_local(production, LedgerChain(rpc_url))
    with pytest.raises(LedgerError, match="got LEDGER_ENV=production, chain id 31337"):
        local_platform_admin_key(production, LedgerChain(rpc_url))
    assert not (tmp_path / "local-keys.json").exists()


def test_the_issuers_a_mapping_names_are_onboarded_on_request_after_the_sources(settings, deployed, monkeypatch):
    """The importer's --onboard (`onboard_issuers_locally`): each issuer gets its admin, its
    registrar and a staff token beside those of the sources; asking again sends nothing."""
    from types import SimpleNamespace

    from scripts import run_local

    key, chain = deployed
    tokens = bootstrap_local(settings, chain, key)
    monkeypatch.setattr(run_local, "load_settings", lambda: settings)
    issuers = [SimpleNamespace(name="Utrecht", code="GM0344"), SimpleNamespace(name="Baarn", code="GM0308")]
    path = run_local.onboard_issuers_locally(issuers)
    after = json.loads(path.read_text())
    assert list(after) == ["GM0308", "CL-GOB", "GM0344"] and after["GM0308"] == tokens["GM0308"]
    identity = StaffRegistry(settings.staff_keys_file).authenticate(after["GM0344"])
    assert identity.municipality_id == 3 and chain.call("isRegistrar", 3, identity.registrar) is True
    head = chain.head_block_number()
    assert json.loads(run_local.onboard_issuers_locally(issuers).read_text()) == after
    assert chain.head_block_number() == head
