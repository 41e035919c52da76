"""Importer of public commitment data into the ledger, through the staff HTTP API.

A YAML mapping per source (`load_mapping`) says how CSV rows become commitments, deliveries and
revocations; `plan_source` computes the plan from the files alone (pure); the applier
(`scripts.importer.apply`) executes only what the ledger does not have yet, in batches of up to
100 operations per transaction, or (``deliveries: {mode: batch}``) each snapshot's deliveries
as one anchored Merkle batch (`scripts.importer.batches`); the CLI is
``python -m scripts.importer MAPPING.yaml --api URL --token-file FILE [--batch-size N]
[--deliveries-mode per_delivery|batch]``.

Example::

    from scripts.importer import load_mapping, plan_source
    plan = plan_source(load_mapping("scripts/mappings/baarn-coalitieakkoord.yaml"), "../shared/data")
    len(plan.commitments), plan.skipped_by_reason()
"""

from __future__ import annotations

from .apply import ApplyResult, BatchResult, OpResult, TxRef, apply_plan
from .errors import (
    ApiError,
    ApiProblemError,
    ApiUnreachableError,
    ImporterError,
    IndexerLagError,
    MappingError,
    MunicipalityMismatchError,
    MunicipalityNotFoundError,
    SourceDataError,
    TokenNotFoundError,
)
from .mapping import CommitmentsMapping, ProgressSnapshotsMapping, load_mapping, parse_mapping
from .plan import (
    Cleaned,
    EvidenceFile,
    Operation,
    Plan,
    PlannedBatch,
    RecordDelivery,
    RegisterCommitment,
    ReportRow,
    RevokeDelivery,
    RowRef,
)
from .planner import plan_source

__all__ = [
    "ApiError",
    "ApplyResult",
    "BatchResult",
    "OpResult",
    "TxRef",
    "apply_plan",
    "ApiProblemError",
    "ApiUnreachableError",
    "Cleaned",
    "CommitmentsMapping",
    "EvidenceFile",
    "ImporterError",
    "IndexerLagError",
    "MappingError",
    "MunicipalityMismatchError",
    "MunicipalityNotFoundError",
    "Operation",
    "Plan",
    "PlannedBatch",
    "ProgressSnapshotsMapping",
    "RecordDelivery",
    "RegisterCommitment",
    "ReportRow",
    "RevokeDelivery",
    "RowRef",
    "SourceDataError",
    "TokenNotFoundError",
    "load_mapping",
    "parse_mapping",
    "plan_source",
]
