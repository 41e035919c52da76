"""JSON log lines (api.logging_config): the fixed fields first, extras after, one line per
record, tracebacks as a string; uvicorn's handlers switched to JSON; text stays the default
locally and JSON in production."""

from __future__ import annotations

import json
import logging
from typing import Iterator

import pytest

from api.logging_config import JsonFormatter, configure_logging, ensure_logging, formatter_config
from ledger.settings import Settings, load_settings


@pytest.fixture()
def uvicorn_handler() -> Iterator[logging.Handler]:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_record_is_one_json_line_with_the_fixed_fields_first() -> None:
    record = logging.LogRecord("indexer", logging.WARNING, __file__, 1, "block %d of %s", (7, "Baarn\n"), None)
    record.block = 7
    record.color_message = "\x1b[1mblock\x1b[0m"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "logger", "message", "block"]
    assert (entry["level"], entry["logger"], entry["message"], entry["block"]) == ("WARNING", "indexer", "block 7 of Baarn\n", 7)
    assert entry["time"].endswith("Z") and entry["time"][10] == "T" and len(entry["time"]) == 24


def test_a_traceback_is_a_string_field() -> None:
    try:
        raise ValueError("bad row")
    except ValueError:
        record = logging.getLogger("importer").makeRecord("importer", logging.ERROR, __file__, 1, "row failed", (), __import__("sys").exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "row failed"
    assert "ValueError: bad row" in entry["exc_info"]


def test_uvicorns_handlers_become_json(uvicorn_handler: logging.Handler) -> None:
    ensure_logging("text")
    assert not isinstance(uvicorn_handler.formatter, JsonFormatter)
    ensure_logging("json")
    assert isinstance(uvicorn_handler.formatter, JsonFormatter)


def test_configure_logging_for_the_command_lines(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("json", "info")
        logging.getLogger("indexer").info("caught up", extra={"block": 12})
        entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (entry["logger"], entry["message"], entry["block"]) == ("indexer", "caught up", 12)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_the_format_by_environment() -> None:
    assert load_settings({}).log_format == "text"
    assert load_settings({"LEDGER_LOG_FORMAT": "json"}).log_format == "json"
    assert Settings(env="production").log_format == "json"
    assert Settings(env="production", log_format="text").log_format == "text"
    assert formatter_config("json") == {"()": "api.logging_config.JsonFormatter"}
    assert "format" in formatter_config("text")
