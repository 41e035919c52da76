import time
import brownie
from brownie import CommitmentLedger, accounts, chain, web3

def rpc(method, params):
    r = web3.provider.make_request(method, params)
    assert "error" not in r, r
    return r["result"]

def test_probe():
    l = CommitmentLedger.deploy(accounts[0], {"from": accounts[0]})
    l.registerMunicipality("Baarn", "GM0308", accounts[1], {"from": accounts[0]})
    l.addRegistrar(1, accounts[2], {"from": accounts[1]})
    t0 = chain[-1].timestamp
    D = t0 + 1000
    tx = l.registerCommitment((1, "R1, x", "T", "", "", 10, "homes", D, "0x" + "ab"*32, ""), {"from": accounts[2]})
    print("EV", tx.events)
    print("RV", tx.return_value)
    try:
        l.registerCommitment((1, "R1, x", "T", "", "", 10, "homes", D, "0x" + "00"*32, ""), {"from": accounts[2]})
    except Exception as e:
        print("E", repr(e.revert_msg))
    try:
        l.statusOf(5)
    except Exception as e:
        print("E", type(e), repr(e.revert_msg))
    try:
        l.removeRegistrar(1, accounts[5], {"from": accounts[1]})
    except Exception as e:
        print("E", type(e), repr(e.revert_msg))
    tx = l.recordDelivery(1, (1, t0, ["0x" + "11"*32, "0x" + "22"*32], "", "", ""), {"from": accounts[2]})
    print("EV", tx.events, len(tx.events))
    print(tx.events["EvidenceCited"], list(tx.events.keys()))
    print(tx.events[0].name, tx.events[1].name, tx.events[0].address)
    ev = tx.events["DeliveryRecorded"]
    print(type(ev), type(ev["evidenceHashes"][0]), ev == {"x": 1})
    print("RV", tx.return_value)
    print(l.statusOf(1), type(l.statusOf(1)), l.statusOf(1).dict() if hasattr(l.statusOf(1), "dict") else None)
    print(l.counts())
    print([e["name"] for e in l.abi if e["type"]=="event"])
    print(l.events)
