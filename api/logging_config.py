"""Logging of the API, the indexer and the importer: plain text locally, one JSON object per
line in production (``LEDGER_LOG_FORMAT=json|text``, ``Settings.log_format``).

A JSON line (python-json-logger's ``JsonFormatter``) carries ``time`` (ISO 8601 UTC with
milliseconds), ``level``, ``logger`` and ``message``, plus whatever the record was given as
``extra``; the API's access log (``api.edges.AccessLogMiddleware``, logger ``api.access``) adds
``method``, ``path`` (never the query string), ``status``, ``duration_ms``, ``client`` and
``request_id``. An exception's traceback goes in ``exc_info`` (a string).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter
from pythonjsonlogger.core import RESERVED_ATTRS

# --- JSON formatter (H6: structured logs) -------------------------------------------------

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The plain-text line (the indexer's format before JSON logs existed)."""

JSON_FIELDS = ("time", "level", "logger", "message")
"""The fields every JSON line starts with, in this order."""


class JsonFormatter(_JsonFormatter):
    """One JSON object per record: :data:`JSON_FIELDS`, then the record's ``extra`` fields.

    Usable from a ``logging.config.dictConfig`` dict as ``{"()": "api.logging_config.JsonFormatter"}``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "color_message"])  # uvicorn's ANSI twin of message
        super().__init__(["asctime", "levelname", "name", "message"], *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """``2026-12-02T20:18:33.123Z``: ISO 8601 UTC, milliseconds."""
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        if "asctime" in log_data:
            log_data["time"] = log_data.pop("asctime")
        ordered = {name: log_data.pop(name) for name in JSON_FIELDS if name in log_data}
        rest = dict(log_data)
        log_data.clear()
        log_data.update(ordered)
        log_data.update(rest)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``json`` or ``text``)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def formatter_config(log_format: str) -> dict[str, Any]:
    """The ``dictConfig`` entry of the formatter of ``log_format`` (``json`` or ``text``)."""
    if log_format == "json":
        return {"()": f"{__name__}.JsonFormatter"}
    return {"format": TEXT_FORMAT}


def configure_logging(log_format: str, level: int | str = logging.INFO) -> None:
    """Send the root logger's records to stderr in ``log_format`` (``json`` or ``text``), at
    ``level``: for the indexer's and the importer's command lines (uvicorn takes a
    ``--log-config`` instead). Replaces any handler the root logger had."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""uvicorn's loggers, which have handlers of their own (and do not propagate)."""

SERVICE_LOGGERS = ("api", "ledger", "indexer", "frontend")
"""The service's own loggers, shown from INFO on (the root logger stays at WARNING)."""


def ensure_logging(log_format: str) -> None:
    """Make the API's records visible in ``log_format`` without touching a configuration that
    exists: the root logger gets a stderr handler only when it has none (uvicorn leaves it
    bare; pytest's capture is left alone), with :data:`SERVICE_LOGGERS` at INFO; and in
    ``json`` the handlers uvicorn set up on its own loggers get the JSON formatter (its
    start-up lines and its access log, if enabled, become JSON lines too). Called by the
    API's lifespan."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(log_format))
        root.addHandler(handler)
        for name in SERVICE_LOGGERS:  # the libraries' INFO chatter stays out
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.INFO)
    if log_format == "json":
        for name in UVICORN_LOGGERS:
            for handler in logging.getLogger(name).handlers:
                if not isinstance(handler.formatter, JsonFormatter):
                    handler.setFormatter(JsonFormatter())


# --- end of the JSON formatter ------------------------------------------------------------


# --- uvicorn's access log without query strings (H5: secrets out of logs) ------------------
#
# uvicorn's access logger (``uvicorn.access``; the h11 and httptools protocols alike) logs
# '%s - "%s %s HTTP/%s" %d' with (client, method, path WITH its query, http version, status):
# a token or any other secret a client put in a query string would land in the log.
# DropQueryString cuts the query off that argument; LOG_CONFIG is uvicorn's own default
# configuration with that filter on its access logger. ``create_app`` also puts the filter on
# the ``uvicorn.access`` logger of its process (install_access_log_filter), so however
# uvicorn is started (``python -m uvicorn api.main:app``, uvicorn.run, a log-config file of
# its own, H6's JSON handlers) the access log has no query string. For an explicit config:
#     uvicorn.run("api.main:app", log_config=LOG_CONFIG)  /  uvicorn.Config(app, log_config=LOG_CONFIG)

import copy  # noqa: E402 - this section's own imports, kept with it

from uvicorn.config import LOGGING_CONFIG as _UVICORN_LOGGING_CONFIG  # noqa: E402

ACCESS_PATH_ARG = 2
"""Index of the request path (with its query) in the arguments of uvicorn's access record."""


class DropQueryString(logging.Filter):
    """Cut the query string (``?`` and all after it) off the request path of uvicorn access
    log records; the record is changed in place and always kept. Usable from a ``dictConfig``
    dict as ``{"()": "api.logging_config.DropQueryString"}``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (record.name.startswith("uvicorn.access") and isinstance(args, tuple) and len(args) > ACCESS_PATH_ARG
                and isinstance(args[ACCESS_PATH_ARG], str)):
            path = args[ACCESS_PATH_ARG].split("?", 1)[0]
            record.args = (*args[:ACCESS_PATH_ARG], path, *args[ACCESS_PATH_ARG + 1:])
        return True


LOG_CONFIG: dict[str, Any] = copy.deepcopy(_UVICORN_LOGGING_CONFIG)
"""uvicorn's default logging configuration with :class:`DropQueryString` on the
``uvicorn.access`` logger (``log_config=`` of ``uvicorn.run`` / ``uvicorn.Config``)."""
LOG_CONFIG.setdefault("filters", {})["drop_query_string"] = {"()": f"{__name__}.DropQueryString"}
LOG_CONFIG["loggers"]["uvicorn.access"].setdefault("filters", []).append("drop_query_string")


def install_access_log_filter() -> None:
    """Put :class:`DropQueryString` on the ``uvicorn.access`` logger of this process (once):
    a logger's filter sees every record logged on it, whatever handlers a configuration
    gives it later."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryString) for f in access.filters):
        access.addFilter(DropQueryString())


# --- end of the access log filter ----------------------------------------------------------
