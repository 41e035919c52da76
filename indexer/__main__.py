"""``python -m indexer``: index the ledger's events into the SQL index, then keep polling.

Settings come from the environment (``LEDGER_*``, see ``ledger.settings``): the RPC URL, the
database URL, the deployment record, confirmations, chunk size, poll interval. SIGINT and
SIGTERM stop it cleanly between chunks. Each chunk is logged (blocks, events, seconds).

Options: ``--once`` indexes up to the head and exits; ``--reindex`` drops the index first
and rebuilds it from the deploy block (after a reorg). Exit status 0 on a clean stop, 1 on
an error that needs an operator (reorg, wrong chain, a contract version it does not know, an
index of another contract or of an older schema, bad settings).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from api.logging_config import configure_logging
from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.db import create_schema, drop_schema, make_engine, session_factory
from ledger.deployment import load_deployment
from ledger.errors import LedgerError
from ledger.settings import load_settings

log = logging.getLogger("indexer")


def main(argv: list[str] | None = None) -> int:
    """Run the indexer; returns the process exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m indexer", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="index up to the current head and exit")
    parser.add_argument("--reindex", action="store_true", help="drop the index and rebuild it from the deploy block")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        """Signal handler: ask the loop to stop after the current chunk."""
        log.info("Received %s; stopping after the current chunk", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    try:
        settings = load_settings()
        configure_logging(settings.log_format or "text", args.log_level)  # JSON lines with LEDGER_LOG_FORMAT=json
        assert settings.deployment_file is not None
        deployment = load_deployment(settings.deployment_file)
        chain = LedgerChain(settings.rpc_url, deployment, tx_timeout_seconds=settings.tx_timeout_seconds)
        engine = make_engine(settings.database_url)
    except LedgerError as exc:
        log.error("%s", exc)
        return 1
    try:
        if args.reindex:
            log.warning("Dropping the index at %s to rebuild it from block %d", engine.url, deployment.deploy_block)
            drop_schema(engine)
        create_schema(engine)
        indexer = Indexer(chain, session_factory(engine), settings)
        log.info(
            "Indexing contract %s on chain %d from block %d (confirmations %d, chunks of %d blocks)",
            deployment.contract_address,
            deployment.chain_id,
            deployment.deploy_block,
            settings.confirmations,
            settings.log_chunk_blocks,
        )
        if args.once:
            applied = indexer.run_once(stop)
            log.info("Done: %d events applied", applied)
        else:
            indexer.run_forever(stop)
            log.info("Stopped")
    except LedgerError as exc:
        log.error("%s", exc)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
