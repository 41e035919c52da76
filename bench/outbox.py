"""The write outbox's figures (``ledger.outbox``): staff writes per second one after the
other (each ``Prefer: wait=30``, so each waits for its confirmation) and 50 at once from 10
signers (answered 202, then reconciled), and the time from the 202 to ``confirmed``. The real
app (lifespan, reconciler thread) in process against a throwaway anvil (automine) and a
SQLite outbox. Prints figures; asserts nothing.

    .venv/bin/python -m bench.outbox [--sequential 30] [--concurrent 50] [--signers 10]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from eth_account import Account

from api.main import create_app
from bench.anvil import throwaway_anvil
from ledger.chain import LedgerChain
from ledger.db import outbox
from ledger.deployment import save_deployment
from ledger.settings import load_settings
from ledger.staff import issue_token

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMIN = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil key 0, local only
COUNCIL = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil key 1


def body(i: int) -> dict[str, Any]:
    return {"external_ref": f"bench-{i}-{time.time_ns()}", "title": "Belofte", "target_quantity": "10", "unit": "stuks",
            "promised_at": 1655071200, "due_date": 1893452400}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--signers", type=int, default=10)
    args = parser.parse_args()
    with throwaway_anvil() as rpc_url, tempfile.TemporaryDirectory() as folder:
        chain = LedgerChain(rpc_url)
        deployment = chain.deploy(ADMIN)
        council = Account.from_key(COUNCIL).address
        chain.send("registerMunicipality", ["Baarn", "GM0308", council], ADMIN)
        keys = ["0x" + hashlib.sha256(f"bench outbox signer {i}".encode()).hexdigest() for i in range(args.signers)]
        for key in keys:
            address = Account.from_key(key).address
            chain.transfer_ether(ADMIN, address, 10**19)
            chain.send("addRegistrar", [1, address], COUNCIL)
        data_dir = Path(folder)
        save_deployment(data_dir / "deployment.json", deployment)
        settings = load_settings({}, data_dir=data_dir, rpc_url=rpc_url, outbox_poll_seconds=0.2)
        tokens = [issue_token(settings.staff_keys_file, 1, key) for key in keys]
        app = create_app(settings)
        with TestClient(app) as client:
            started = time.perf_counter()
            for i in range(args.sequential):
                response = client.post("/api/v1/staff/commitments", json=body(i), headers={
                    "Authorization": f"Bearer {tokens[0]}", "Prefer": "wait=30"})
                assert response.status_code == 201, response.text
            sequential = time.perf_counter() - started

            accepted: dict[str, float] = {}
            lock = threading.Lock()
            barrier = threading.Barrier(args.concurrent, timeout=60)

            def post(i: int) -> None:
                barrier.wait()
                response = client.post("/api/v1/staff/commitments", json=body(10_000 + i), headers={
                    "Authorization": f"Bearer {tokens[i % len(tokens)]}"})
                with lock:
                    accepted[response.json()["write"]["id"]] = time.perf_counter()

            threads = [threading.Thread(target=post, args=(i,)) for i in range(args.concurrent)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            confirmed_at: dict[str, float] = {}
            while len(confirmed_at) < len(accepted) and time.perf_counter() - started < 300:
                with app.state.session_factory() as session:
                    for write_id in accepted:
                        if write_id not in confirmed_at and outbox.get_write(session, write_id)["state"] == "confirmed":
                            confirmed_at[write_id] = time.perf_counter()
                time.sleep(0.02)
            concurrent = time.perf_counter() - started
            delays = [confirmed_at[w] - accepted[w] for w in confirmed_at]
            with app.state.session_factory() as session:
                attempts = [outbox.get_write(session, w)["attempts"] for w in accepted]
    print(f"sequential, Prefer: wait=30: {args.sequential} writes in {sequential:.2f} s = "
          f"{args.sequential / sequential:.1f} writes/s")
    print(f"concurrent, {args.concurrent} writes from {args.signers} signers: all confirmed in {concurrent:.2f} s = "
          f"{len(confirmed_at) / concurrent:.1f} writes/s ({len(confirmed_at)}/{len(accepted)} confirmed, "
          f"{sum(a > 1 for a in attempts)} signed again)")
    if delays:
        print(f"202 → confirmed: median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
