"""``GET /api/v1/health``: is the index keeping up with the chain?"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DeploymentDep, NowDep, SessionDep, SettingsDep
from api.schemas import Health
from ledger.db import repository

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(session: SessionDep, deployment: DeploymentDep, settings: SettingsDep, now: NowDep) -> Health:
    """Health of the index, read from the indexer's checkpoint (no chain call).

    - `chain_head_block`: the latest block the indexer saw; `head_seen_at`: when (Unix s).
    - `indexed_block`: last block whose events are indexed (inclusive);
      `lag_blocks` = `chain_head_block - indexed_block`.
    - `status` is `degraded` when the indexer has not run yet, has not seen the head for
      `head_stale_seconds` (default 60 s), or lags more than `max_lag_blocks` (default 100);
      `ok` otherwise. The HTTP status is 200 either way.
    - `paused`: whether the platform admin paused all writes (as indexed; staff writes then
      answer 503 `ledger-paused`, reads keep working); `contract_version`: the contract's
      `version()` as the indexer read it ("2.1.0"). Both null before the indexer's first pass.
    """
    checkpoint = repository.get_checkpoint(session) or {}
    head = checkpoint.get("chain_head_block")
    indexed = checkpoint.get("last_block")
    seen_at = checkpoint.get("head_seen_at")
    lag = max(0, head - indexed) if head is not None and indexed is not None else None
    healthy = (
        lag is not None
        and lag <= settings.max_lag_blocks
        and seen_at is not None
        and now - seen_at <= settings.head_stale_seconds
    )
    return Health(
        status="ok" if healthy else "degraded",
        chain_id=deployment.chain_id,
        contract_address=deployment.contract_address,
        deploy_block=deployment.deploy_block,
        chain_head_block=head,
        indexed_block=indexed,
        lag_blocks=lag,
        head_seen_at=seen_at,
        paused=checkpoint.get("paused"),
        contract_version=checkpoint.get("contract_version"),
    )
