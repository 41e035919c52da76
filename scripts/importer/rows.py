"""Row-level steps shared by both mapping kinds: skip rules, cleaning, commitment building."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import limits, text
from .lookups import NoData
from .mapping import CommitmentFields, SourceCredit
from .plan import Cleaned, RegisterCommitment, RowRef
from .source_ids import tagged_source_uri
from .steps import (
    CleanStep,
    CollapseWhitespace,
    FieldSpec,
    Flag,
    Replace,
    SkipRule,
    StripEnd,
    StripStart,
)

_SHA256 = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")


def first_skip(rules: list[SkipRule], values: Mapping[str, str]) -> SkipRule | None:
    """The first skip rule that applies to a row (raw values), or None."""
    return next((rule for rule in rules if rule.applies(values)), None)


def clean_row(
    steps: Mapping[str, list[CleanStep]], values: Mapping[str, str],
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[dict[str, str], list[Cleaned], list[str]]:
    """Apply the cleaning steps column by column, in the order given; each cleaned value is
    also set under the column's other keys, ``aliases[column]`` (its ``#<n>`` or its name,
    `scripts.importer.csvsource.CsvTable.aliases`).

    Returns:
        ``(cleaned_values, cleaned, warnings)``: all columns (changed or not), one `Cleaned`
        per step that changed something (``removed`` is the removed text, or a description for
        whitespace), and the warnings of ``flag`` steps (``"<column>: <reason>"``).
    """
    out = dict(values)
    cleaned: list[Cleaned] = []
    warnings: list[str] = []
    for column, column_steps in steps.items():
        value = out[column]
        for step in column_steps:
            if isinstance(step, CollapseWhitespace):
                value, what = text.collapse_whitespace(value)
                if what:
                    cleaned.append(Cleaned(column=column, reason=step.reason, removed=what))
            elif isinstance(step, StripEnd):
                value, removed = text.strip_end(value, re.compile(step.pattern))
                if removed:
                    cleaned.append(Cleaned(column=column, reason=step.reason, removed=removed.strip()))
            elif isinstance(step, StripStart):
                value, removed = text.strip_start(value, re.compile(step.pattern))
                if removed:
                    cleaned.append(Cleaned(column=column, reason=step.reason, removed=removed.strip()))
            elif isinstance(step, Replace):
                value, found = text.replace_all(value, re.compile(step.pattern), step.replacement)
                for removed in found:
                    cleaned.append(Cleaned(column=column, reason=step.reason, removed=removed.strip()))
            elif isinstance(step, Flag):
                if re.search(step.pattern, value):
                    warnings.append(f"{column}: {step.reason}")
        out[column] = value
        for alias in (aliases or {}).get(column, ()):
            out[alias] = value
    return out, cleaned, warnings


def evaluate(name: str, spec: FieldSpec, values: Mapping[str, Any], problems: list[str]) -> Any:
    """Evaluate one field; on failure append ``"<name>: <problem>"`` to ``problems`` and
    return None."""
    try:
        return spec.evaluate(values)
    except KeyError as exc:
        problems.append(f"{name}: no column or context value {exc.args[0]!r}")
    except ValueError as exc:
        problems.append(f"{name}: {exc}")
    return None


def as_int(name: str, value: Any, problems: list[str]) -> int | None:
    """``value`` as an integer (int or decimal digits), else a problem and None."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    problems.append(f"{name}: {value!r} is not a whole number")
    return None


def build_commitment(
    fields: CommitmentFields, values: Mapping[str, Any], row: RowRef, *, source: SourceCredit
) -> tuple[RegisterCommitment | None, list[str]]:
    """Build a registration from a cleaned row and check it against the ledger's limits.

    Args:
        fields: the mapping's commitment block.
        values: cleaned column values plus ``$`` context values.
        row: where the row comes from.
        source: the mapping's source block: the ``source_uri`` names its id
            (`scripts.importer.source_ids.tagged_source_uri`).

    Returns:
        ``(operation, [])`` or ``(None, problems)``; each problem names the field (a field
        that evaluates to `NoData`: ``'due_date: no data ("ND")'``).
    """
    problems: list[str] = []
    got = {name: evaluate(name, spec, values, problems) for name, spec in fields.specs().items()}
    problems += [value.describe(name) for name, value in got.items() if isinstance(value, NoData)]
    if problems:
        return None, problems
    strings = {n: str(got[n]) for n in ("external_ref", "title", "description", "theme", "unit", "source_uri")}
    strings["external_ref"] = limits.normalise_external_ref(strings["external_ref"])  # as the API takes it
    strings["source_uri"], uri_problems = tagged_source_uri(strings["source_uri"], source)
    for name, max_bytes, required in (
        ("external_ref", limits.EXTERNAL_REF_MAX_BYTES, True),
        ("title", limits.TITLE_MAX_BYTES, True),
        ("description", limits.DESCRIPTION_MAX_BYTES, False),
        ("theme", limits.THEME_MAX_BYTES, False),
        ("unit", limits.UNIT_MAX_BYTES, True),
    ):
        problem = limits.check_text(name, strings[name], max_bytes, required=required)
        if problem:
            problems.append(problem)
    problems += uri_problems
    target = as_int("target_quantity", got["target_quantity"], problems)
    if target is not None and (problem := limits.check_quantity("target_quantity", target)):
        problems.append(problem)
    dates: dict[str, int | None] = {"promised_at": None, "due_date": None}
    for name in dates:
        try:
            dates[name] = text.to_unix_seconds(got[name])
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    promised_at, due_date = dates["promised_at"], dates["due_date"]
    if promised_at is not None and due_date is not None and not promised_at < due_date < limits.MAX_DATE:
        problems.append(
            f"due_date {due_date} must be after promised_at {promised_at} and before {limits.MAX_DATE} (year 10000)"
        )
    sha: str | None = None
    raw_sha = got.get("source_document_sha256")
    if raw_sha not in (None, ""):
        match = _SHA256.fullmatch(str(raw_sha).strip())
        if match is None:
            problems.append(f"source_document_sha256: {raw_sha!r} is not 64 hex digits")
        else:
            sha = "0x" + match.group(1).lower()
    if problems or target is None or promised_at is None or due_date is None:
        return None, problems
    return (
        RegisterCommitment(
            row=row,
            external_ref=strings["external_ref"],
            title=strings["title"],
            description=strings["description"],
            theme=strings["theme"],
            target_quantity=target,
            unit=strings["unit"],
            promised_at=promised_at,
            due_date=due_date,
            source_uri=strings["source_uri"],
            source_document_sha256=sha,
        ),
        [],
    )
