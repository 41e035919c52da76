"""Pure text functions."""

from __future__ import annotations

import re

import pytest

from scripts.importer import text
from scripts.importer.limits import utf8_len


def test_collapse_whitespace_joins_lines_and_reports_what_changed():
    new, what = text.collapse_whitespace(" Ley de  datos\npersonales  ")
    assert new == "Ley de datos personales"
    assert what == "1 line break, 1 run of repeated spaces or tabs, leading/trailing whitespace"


def test_collapse_whitespace_reports_nothing_when_nothing_changes():
    assert text.collapse_whitespace("Fondo de Reserva") == ("Fondo de Reserva", None)


def test_strip_end_returns_the_removed_text():
    pattern = re.compile(r"(?<=[.!?])\s+\d{1,3}")
    assert text.strip_end("We streven naar circulair bouwen. 15", pattern) == ("We streven naar circulair bouwen.", " 15")


def test_strip_end_never_removes_the_whole_value():
    pattern = re.compile(r"\s*[A-Z][a-z]+")
    assert text.strip_end("Parkeernormen", pattern) == ("Parkeernormen", None)


def test_strip_start_removes_stray_punctuation():
    assert text.strip_start(". Parkeernormen", re.compile(r"[.,;:]\s+")) == ("Parkeernormen", ". ")


def test_replace_all_lists_each_match():
    new, removed = text.replace_all("maakt. 10 Zorg. 12 Zwemmen", re.compile(r"(?<=\.)\s\d{1,3}(?=\s[A-Z])"), "")
    assert new == "maakt. Zorg. Zwemmen"
    assert removed == [" 10", " 12"]


def test_first_sentence_ignores_abbreviations_and_decimal_points():
    assert text.first_sentence("We werken samen met BBS e.a. in Baarn. Tweede zin.") == "We werken samen met BBS e.a. in Baarn."
    assert text.first_sentence("Cambios a la Ley 20.380 sobre animales") == "Cambios a la Ley 20.380 sobre animales"


def test_truncate_bytes_keeps_short_text():
    assert text.truncate_bytes("kort", 200) == "kort"


def test_truncate_bytes_cuts_at_a_word_boundary_with_ellipsis():
    long = "woord " * 50
    out = text.truncate_bytes(long, 200)
    assert utf8_len(out) <= 200
    assert out.endswith("woord…")
    assert long.startswith(out[:-1])


def test_truncate_bytes_never_splits_a_multibyte_character():
    out = text.truncate_bytes("é" * 150, 200)  # one 300-byte word
    assert utf8_len(out) <= 200
    assert out == "é" * 98 + "…"


def test_truncate_bytes_rejects_a_budget_smaller_than_the_ellipsis():
    with pytest.raises(ValueError):
        text.truncate_bytes("abcdef", 3)


@pytest.mark.parametrize("raw, expected", [("40%", 40), ("0%", 0), ("100%", 100), (" 70 % ", 70), ("90", 90)])
def test_parse_percent_accepts_whole_percentages(raw, expected):
    assert text.parse_percent(raw) == expected


@pytest.mark.parametrize("raw", ["", "%", "4O%", "40.5%", "-10%", "veertig"])
def test_parse_percent_rejects_malformed_values(raw):
    with pytest.raises(ValueError):
        text.parse_percent(raw)


def test_to_unix_seconds_reads_offsets():
    assert text.to_unix_seconds("2026-03-31T23:59:59+02:00") == 1774994399
    assert text.to_unix_seconds("2026-03-11T00:00:00-03:00") == 1773198000
    assert text.to_unix_seconds(1774994399) == 1774994399


def test_to_unix_seconds_rejects_naive_timestamps():
    with pytest.raises(ValueError, match="offset"):
        text.to_unix_seconds("2026-03-31T23:59:59")


def test_templates_take_whole_column_names_and_context_names():
    template = "{1° tramite}/{rechazado/retirado} in {$snapshot}"
    assert text.template_fields(template) == ["1° tramite", "rechazado/retirado", "$snapshot"]
    values = {"1° tramite": "1", "rechazado/retirado": "0", "$snapshot": "2024"}
    assert text.render_template(template, values) == "1/0 in 2024"


def test_templates_reject_positional_fields():
    with pytest.raises(ValueError, match="positional"):
        text.template_fields("Boletín {}")
