"""The on-chain ``source_uri`` of a planned commitment: the mapping's value with the source's
id (``#ledger-source=<id>``, the rule of ``ledger.sources.source_uri_with_id``), so that anyone
replaying the chain can tell which source a commitment came from, and the readers credit it to
that source alone (``ledger.sources.SourceCredit.credits``)."""

from __future__ import annotations

from ledger.sources import SOURCE_ID_PARAMETER, SourceIdConflictError, source_uri_with_id

from . import limits
from .mapping import SourceCredit


def tagged_source_uri(value: str, source: SourceCredit) -> tuple[str, list[str]]:
    """The ``source_uri`` to register for a row whose mapping gives ``value``: ``value``, or the
    source's ``url`` when ``value`` is empty, with ``ledger-source=<source.id>`` in its
    fragment, checked against the ledger's limit (0..``limits.URI_MAX_BYTES`` UTF-8 bytes,
    inclusive).

    Returns:
        ``(uri, problems)``: each problem starts with ``source_uri``; a URI that no longer fits
        with the parameter says how many bytes the parameter added.
    """
    try:
        uri = source_uri_with_id(value, source.id, source.url)
    except SourceIdConflictError as exc:
        return value, [f"source_uri: {exc}"]
    problem = limits.check_text("source_uri", uri, limits.URI_MAX_BYTES, required=False)
    if problem is None:
        return uri, []
    added = limits.utf8_len(uri) - limits.utf8_len(value or source.url)
    return uri, [
        f"{problem}, of which {added} bytes are the '{SOURCE_ID_PARAMETER}={source.id}' fragment parameter "
        "that names the source; shorten the URI"
    ]
