"""Kill the whole stack many times (issue 7, "How to check it") and print the figures.

Each run is the scenario of ``tests/chaos`` (``tests.chaos.harness``): a fresh anvil with its
state file, a fresh ledger and roles, the indexer and one API process on a fresh database,
``--signers`` registrars per municipality (two municipalities) writing (commitments and deliveries, half with an evidence file), and a plan of
``--kills`` SIGKILLs drawn at random (``--seed``) from the worst moments: anvil during a send,
between send and receipt or right after a write was confirmed, the API after a 202, the indexer during a chunk; each killed
process restarted (anvil from its last state: blocks are lost). Then the checks: every write
answered 202 confirmed exactly once on chain, evidence served, the index equal to a clean
re-index row for row, the replay without differences.

    python -m bench.chaos [--runs 5] [--kills 6] [--scenario automine|interval|both]
        [--backend sqlite|postgresql|both] [--signers 2] [--commitments 2] [--deliveries 3] [--seed N]
        [--port-base 9100] [--keep DIR]

``automine`` is ``make run``'s chain (confirmations 0); ``interval`` mines a block a second
with 2 confirmations. Ports: anvil on ``--port-base``, the API on the next one. One line of
figures per run, then the totals; the problems of a failed run are printed in full. Exit
status 0 when every run kept the promise, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.chaos.harness import ChaosStack, Kill, Outcome, outbox_missing, run_scenario
from tests.db.databases import fresh_database, postgres_unavailable

MOMENTS = (("anvil", "request"), ("anvil", "sent"), ("anvil", "confirmed"), ("api", "accepted"), ("api", "accepted"),
           ("indexer", "chunk"))
"""What a random plan draws from (the API twice: its kills are the cheapest)."""

SCENARIOS = {"automine": {"block_time_seconds": None, "confirmations": 0},
             "interval": {"block_time_seconds": 1, "confirmations": 2}}


def random_plan(rng: random.Random, kills: int) -> list[Kill]:
    """``kills`` kills drawn from :data:`MOMENTS`; at most one ``chunk`` kill, played last
    (it waits for a backlog)."""
    plan = [Kill(*rng.choice(MOMENTS)) for _ in range(kills)]
    chunks = [k for k in plan if k.moment == "chunk"]
    return [k for k in plan if k.moment != "chunk"] + chunks[:1]


def one_run(folder: Path, backend: str, scenario: str, plan: list[Kill], args: argparse.Namespace) -> Outcome:
    with fresh_database(backend, folder, schema=False) as database:
        with ChaosStack(folder / "stack", database.url, anvil_port=args.port_base, api_port=args.port_base + 1,
                        signers_per_municipality=args.signers, **SCENARIOS[scenario]) as stack:  # type: ignore[arg-type]
            return run_scenario(stack, plan, backend=backend, commitments=args.commitments, deliveries=args.deliveries,
                                timeout_seconds=args.timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario and backend (default 5)")
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs per run (default 6)")
    parser.add_argument("--scenario", choices=("automine", "interval", "both"), default="both")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--signers", type=int, default=2,
                        help="registrars per municipality of the source mappings, each its own thread (default 2)")
    parser.add_argument("--commitments", type=int, default=2, help="new commitments per registrar (default 2)")
    parser.add_argument("--deliveries", type=int, default=3, help="deliveries per registrar (default 3)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a run's writers may take (default 180)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill plans (default: random, printed)")
    parser.add_argument("--port-base", type=int, default=9100, help="anvil's port; the API's is the next (default 9100)")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's folder (logs, state) under DIR")
    args = parser.parse_args(argv)
    reason = outbox_missing()
    if reason:
        print(f"bench.chaos: {reason}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    rng = random.Random(seed)
    scenarios = ("automine", "interval") if args.scenario == "both" else (args.scenario,)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if "postgresql" in backends and postgres_unavailable():
        print(f"bench.chaos: {postgres_unavailable()}", file=sys.stderr)
        return 2
    print(f"seed {seed}; {args.runs} run(s) × {', '.join(scenarios)} × {', '.join(backends)}; {args.kills} kills a run")
    totals: Counter = Counter()
    failed = 0
    for scenario in scenarios:
        for backend in backends:
            for run in range(1, args.runs + 1):
                plan = random_plan(rng, args.kills)
                if args.keep is not None:
                    folder = args.keep / f"{scenario}-{backend}-{run}"
                    folder.mkdir(parents=True, exist_ok=True)
                    outcome = one_run(folder, backend, scenario, plan, args)
                else:
                    with tempfile.TemporaryDirectory(prefix="ledger-chaos-") as tmp:
                        outcome = one_run(Path(tmp), backend, scenario, plan, args)
                figures = outcome.figures()
                ok = not outcome.problems and not outcome.skipped and all(k.triggered for k in outcome.kills)
                failed += not ok
                print(f"{scenario:8} {backend:10} run {run}: {'ok  ' if ok else 'FAIL'} " + json.dumps(
                    {k: figures[k] for k in ("seconds", "writes", "kills", "kills_by_target", "blocks_lost", "answered_202",
                                             "confirmed_exactly_once", "on_chain_twice_or_more", "missing_on_chain",
                                             "ids_changed_after_shown", "lost_answers", "indexer_reorg_log_lines", "anvil_state_file_cut",
                                             "index_equal_to_reindex",
                                             "replay_differences")}), flush=True)
                for kill in outcome.kills:
                    if not kill.triggered:
                        print(f"    kill {kill.target} at {kill.moment}: {kill.note}")
                for line in outcome.skipped + outcome.problems:
                    print("    " + line.replace("\n", "\n    "))
                totals.update({
                    "runs": 1, "kills": figures["kills"], "blocks_lost": figures["blocks_lost"],
                    "writes": figures["writes"], "answered_202": figures["answered_202"],
                    "confirmed_exactly_once": figures["confirmed_exactly_once"],
                    "on_chain_twice_or_more": figures["on_chain_twice_or_more"],
                    "missing_on_chain": figures["missing_on_chain"],
                    "ids_changed_after_shown": figures["ids_changed_after_shown"],
                    "lost_answers": figures["lost_answers"],
                    "indexer_reorg_log_lines": figures["indexer_reorg_log_lines"],
                    "anvil_state_file_cut": figures["anvil_state_file_cut"],
                    "runs_skipped_reorg_without_rollback": int(bool(outcome.skipped)),
                    "index_equal_to_reindex": int(figures["index_equal_to_reindex"] is True),
                    "replay_runs_with_0_differences": int(figures["replay_differences"] == 0),
                    "seconds": figures["seconds"],
                })
                totals.update({f"kills_{target}": n for target, n in figures["kills_by_target"].items()})
    print("totals: " + json.dumps(dict(totals)))
    print(f"{totals['runs'] - failed}/{totals['runs']} runs kept the promise")
    return 1 if failed else 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(code)
