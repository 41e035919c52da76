"""Health of the service: ``GET /api/v1/health`` (the whole picture, always 200),
``/health/live`` (liveness: the process serves) and ``/health/ready`` (readiness: 200 or 503).

The node is asked only through the cached probe of ``api.freshness`` (``eth_blockNumber``
with a short timeout, one call per few seconds however many probes arrive); the index through
the indexer's checkpoint.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request

from api import freshness
from api.deps import DeploymentDep, NowDep, SessionDep, SettingsDep
from api.problems import ProblemError, RETRY_AFTER_HEADER, problem_responses
from api.schemas import Health, Liveness, Readiness
from ledger.db import repository
from ledger.settings import Settings

router = APIRouter(tags=["health"])

NOT_INDEXED = "not_indexed"
INDEX_LAGGING = "index_lagging"
HEAD_STALE = "head_stale"
NODE_UNREACHABLE = "node_unreachable"


def _reasons(state: freshness.IndexState, node_reachable: bool, settings: Settings, now: int) -> list[str]:
    """Why the service is not ready (empty: ready), in a fixed order."""
    reasons: list[str] = []
    if state.indexed_block is None or state.head_block is None or state.head_seen_at is None:
        reasons.append(NOT_INDEXED)
    else:
        if state.head_block - state.indexed_block > settings.max_lag_blocks:
            reasons.append(INDEX_LAGGING)
        if now - state.head_seen_at > settings.head_stale_seconds:
            reasons.append(HEAD_STALE)
    if not node_reachable:
        reasons.append(NODE_UNREACHABLE)
    return reasons


def _lag(state: freshness.IndexState) -> int | None:
    if state.head_block is None or state.indexed_block is None:
        return None
    return max(0, state.head_block - state.indexed_block)


@router.get("/health", response_model=Health)
def health(
    request: Request, session: SessionDep, deployment: DeploymentDep, settings: SettingsDep, now: NowDep
) -> Health:
    """Health of the index and the node; the HTTP status is 200 whatever the state (see
    `/health/ready` for a probe that fails).

    - `chain_head_block`: the latest block the indexer saw; `head_seen_at`: when (Unix s);
      `index_age_seconds` = now − `head_seen_at`.
    - `indexed_block`: last block whose events are indexed (inclusive);
      `lag_blocks` = `chain_head_block - indexed_block`.
    - `node_reachable`: the node answered `eth_blockNumber` within
      `node_probe_timeout_seconds` (2 s; the answer is cached `node_probe_cache_seconds`, 3 s).
    - `reasons`: `not_indexed` (the indexer has not run yet), `index_lagging` (more than
      `max_lag_blocks`, default 100, behind), `head_stale` (head not seen for
      `head_stale_seconds`, default 60 s), `node_unreachable`.
    - `status`: `unavailable` when the node does not answer (reads are still served from the
      index, staff writes wait in the outbox), else `degraded` when any other reason holds,
      else `ok`.
    - `paused`: whether the platform admin paused all writes (as indexed; staff writes then
      answer 503 `ledger-paused`, reads keep working); `contract_version`: the contract's
      `version()` as the indexer read it ("2.1.0"). Both null before the indexer's first pass.
    - `event_errors`: indexed events the projection could not apply (each kept with its error;
      the indexer goes on): not 0 means a registrar wrote something the index cannot show.
    """
    state = _index_state(request)
    node_reachable = freshness.node_probe(request.app).reachable()
    reasons = _reasons(state, node_reachable, settings, now)
    checkpoint = state.checkpoint or {}
    return Health(
        status="unavailable" if not node_reachable else "degraded" if reasons else "ok",
        chain_id=deployment.chain_id,
        contract_address=deployment.contract_address,
        deploy_block=deployment.deploy_block,
        chain_head_block=state.head_block,
        indexed_block=state.indexed_block,
        lag_blocks=_lag(state),
        head_seen_at=state.head_seen_at,
        paused=checkpoint.get("paused"),
        contract_version=checkpoint.get("contract_version"),
        node_reachable=node_reachable,
        index_age_seconds=state.age_seconds(now),
        reasons=reasons,
        event_errors=repository.event_error_count(session),
    )


def _index_state(request: Request) -> freshness.IndexState:
    """The checkpoint, read now (health answers are never served from a cache of the index)."""
    with request.app.state.session_factory() as session:
        checkpoint = repository.get_checkpoint(session)
    checkpoint = checkpoint or None
    return freshness.IndexState(
        indexed_block=(checkpoint or {}).get("last_block"),
        head_block=(checkpoint or {}).get("chain_head_block"),
        head_seen_at=(checkpoint or {}).get("head_seen_at"),
        checkpoint=checkpoint,
    )


@router.get("/health/live", response_model=Liveness)
def live() -> Liveness:
    """Liveness: 200 `{"status": "alive"}` whenever this process serves requests. It asks
    neither the index nor the node (a restart would not bring either back)."""
    return Liveness(status="alive")


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {**problem_responses(503)[503], "headers": {"Retry-After": RETRY_AFTER_HEADER}}},
)
def ready(request: Request, settings: SettingsDep, now: NowDep) -> Readiness:
    """Readiness: 200 when the index is fresh and the node reachable; otherwise 503
    `not-ready` with `reasons` (as in `/health`: `not_indexed`, `index_lagging`, `head_stale`,
    `node_unreachable`), `node_reachable`, `indexed_block`, `lag_blocks`, `index_age_seconds`,
    and `Retry-After` (seconds: the probe's cache period, at least 1). An unreachable node
    turns this 503 within `node_probe_cache_seconds` + `node_probe_timeout_seconds` (5 s by
    default)."""
    state = _index_state(request)
    node_reachable = freshness.node_probe(request.app).reachable()
    reasons = _reasons(state, node_reachable, settings, now)
    lag, age = _lag(state), state.age_seconds(now)
    if reasons or lag is None or age is None or state.indexed_block is None:
        retry = max(1, math.ceil(settings.node_probe_cache_seconds))
        raise ProblemError(
            503,
            "not-ready",
            "not ready: " + ", ".join(reasons),
            headers={"Retry-After": str(retry)},
            reasons=reasons,
            node_reachable=node_reachable,
            indexed_block=state.indexed_block,
            lag_blocks=lag,
            index_age_seconds=age,
        )
    return Readiness(status="ready", indexed_block=state.indexed_block, lag_blocks=lag, index_age_seconds=age,
                     node_reachable=node_reachable)
