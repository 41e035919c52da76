"""Files of any common shape, said by the mapping alone: ``read:`` (format, encoding, delimiter,
quote, header row, sheet, records), columns by position (``#<n>``), ``group:`` (continuation
rows), ``join:`` (a second file by key) and field ``default``. Each test builds its small files
in ``tmp_path`` and checks the planned operations and report rows exactly."""

from __future__ import annotations

import json
from datetime import date, datetime

import openpyxl
import pytest

from scripts.importer import MappingError, SourceDataError, parse_mapping, plan_source
from scripts.importer.errors import AmbiguousColumnError, DuplicateJoinKeyError, SourceEncodingError

PROMISED = "2022-06-13T00:00:00+02:00"
DUE = "2026-03-31T23:59:59+02:00"
DUE_SECONDS = 1774994399


def commitments_doc(**changes):
    """A small ``kind: commitments`` mapping of ``src.csv`` (columns id, titel, omschrijving)."""
    doc = {
        "kind": "commitments",
        "source": {"id": "test-source", "name": "Test", "publisher": "Gemeente Test", "url": "https://example.org/x", "licence": "none stated"},
        "municipality": {"name": "Test", "code": "GM9999"},
        "key_column": "id",
        "file": "src.csv",
        "commitment": {
            "external_ref": {"column": "id"},
            "title": {"column": "titel"},
            "description": {"column": "omschrijving"},
            "target_quantity": {"const": 1},
            "unit": {"const": "afspraak"},
            "promised_at": {"const": PROMISED},
            "due_date": {"const": DUE},
        },
    }
    commitment = changes.pop("commitment", {})
    doc.update(changes)
    doc["commitment"] = {**doc["commitment"], **commitment}
    return doc


def plan_of(tmp_path, doc):
    return plan_source(parse_mapping(doc), tmp_path)


def ops(plan):
    return [(op.external_ref, op.title, op.description) for op in plan.commitments]


def rows(plan):
    return [(r.line, r.key, r.outcome, r.reason, r.warnings, r.merged_lines) for r in plan.report]


def problems_of(doc) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc)
    return info.value.problems


# ------------------------------------------------------------------ read: csv


def test_semicolon_windows_1252_as_dutch_excel_writes_it(tmp_path):
    (tmp_path / "src.csv").write_bytes(
        "id;titel;omschrijving\r\nA1;Ideeën voor de wijk;Budget € 5.000\r\nA2;Café \"De Ëik\";\r\n".encode("windows-1252"))
    plan = plan_of(tmp_path, commitments_doc(read={"encoding": "windows-1252", "delimiter": ";"}))
    assert ops(plan) == [("A1", "Ideeën voor de wijk", "Budget € 5.000"), ("A2", 'Café "De Ëik"', "")]
    assert rows(plan) == [(2, "A1", "planned", None, (), ()), (3, "A2", "planned", None, (), ())]


def test_an_undecodable_byte_names_its_line_and_offset_and_suggests_windows_1252(tmp_path):
    data = "id,titel,omschrijving\nA1,Ideeën,x\n".encode("windows-1252")
    (tmp_path / "src.csv").write_bytes(data)
    with pytest.raises(SourceEncodingError) as info:
        plan_of(tmp_path, commitments_doc())
    assert (info.value.file, info.value.encoding, info.value.line, info.value.offset) == ("src.csv", "utf-8", 2, 29)
    assert data[29:30] == b"\xeb"
    assert str(info.value) == (
        "src.csv: line 2, byte offset 29: byte(s) 0xeb are not utf-8 text; if the file was saved by Excel "
        "or another Windows program, try read: {encoding: windows-1252}"
    )


def test_a_utf8_byte_order_mark_is_ignored(tmp_path):
    (tmp_path / "src.csv").write_bytes("\ufeffid,titel,omschrijving\nA1,Één,x\n".encode("utf-8"))
    assert ops(plan_of(tmp_path, commitments_doc())) == [("A1", "Één", "x")]


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_auto_finds_each_of_its_four_delimiters(tmp_path, delimiter):
    lines = [["id", "titel", "omschrijving"], ["A1", "Een, twee", "x"], ["A2", "Drie", "y"]]
    text = "\n".join(delimiter.join(f'"{c}"' if "," in c and delimiter == "," else c for c in line) for line in lines)
    (tmp_path / "src.csv").write_text(text + "\n", encoding="utf-8")
    plan = plan_of(tmp_path, commitments_doc(read={"delimiter": "auto"}))
    assert ops(plan) == [("A1", "Een, twee", "x"), ("A2", "Drie", "y")]


def test_delimiter_auto_that_cannot_decide_is_a_source_error(tmp_path):
    (tmp_path / "src.csv").write_text("id\nA1\n", encoding="utf-8")
    with pytest.raises(SourceDataError) as info:
        plan_of(tmp_path, commitments_doc(read={"delimiter": "auto"}))
    assert str(info.value) == (
        "src.csv: read.delimiter auto: cannot decide between , ; TAB | from the first lines; give read.delimiter"
    )


def test_header_row_ignores_the_lines_above_it_and_keeps_physical_line_numbers(tmp_path):
    (tmp_path / "src.csv").write_text(
        'Export "afspraken, 2024\nGemeente Test\n\nid,titel,omschrijving\nA1,Een,"twee\nregels"\nA2,Drie,x\n',
        encoding="utf-8")
    plan = plan_of(tmp_path, commitments_doc(read={"header_row": 4, "quote": '"'}))
    assert ops(plan) == [("A1", "Een", "twee\nregels"), ("A2", "Drie", "x")]
    assert [(r.line, r.key) for r in plan.report] == [(5, "A1"), (7, "A2")]


def test_another_quote_character(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving\nA1,'Een, twee',x\n", encoding="utf-8")
    assert ops(plan_of(tmp_path, commitments_doc(read={"quote": "'"}))) == [("A1", "Een, twee", "x")]


# ------------------------------------------------------------------ columns by position


def test_unnamed_and_repeated_header_cells_are_used_by_position(tmp_path):
    # Columns 2 and 5 have no name; "opmerking" is repeated (3 and 4), so only #3 and #4 name them.
    (tmp_path / "src.csv").write_text(
        "id,,opmerking,opmerking,\nA1,  Een  ,eerste,tweede,-\nA2,Twee,,derde,skip\n", encoding="utf-8")
    doc = commitments_doc(
        key_column="#1",
        skip=[{"column": "#5", "equals": "skip", "reason": "marked skip"}],
        clean={"#2": ["collapse_whitespace"]},
        commitment={"title": {"column": "#2"}, "description": {"template": "{#3} / {#4}"}},
    )
    plan = plan_of(tmp_path, doc)
    assert ops(plan) == [("A1", "Een", "eerste / tweede")]
    assert rows(plan) == [(2, "A1", "planned", None, (), ()), (3, "A2", "skipped", "marked skip", (), ())]
    assert [(c.column, c.removed) for c in plan.report[0].cleaned] == [("#2", "leading/trailing whitespace")]


def test_a_cleaned_column_is_cleaned_under_its_name_and_its_position(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving\nA1,  Een  ,x\n", encoding="utf-8")
    doc = commitments_doc(clean={"titel": ["collapse_whitespace"]},
                          commitment={"title": {"column": "#2"}, "description": {"template": "[{titel}]"}})
    assert ops(plan_of(tmp_path, doc)) == [("A1", "Een", "[Een]")]


def test_two_clean_blocks_for_one_column_are_refused(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving\nA1,Een,x\n", encoding="utf-8")
    doc = commitments_doc(clean={"titel": ["collapse_whitespace"], "#2": ["collapse_whitespace"]})
    with pytest.raises(SourceDataError) as info:
        plan_of(tmp_path, doc)
    assert str(info.value) == "src.csv: clean: 'titel' and '#2' are the same column; give its steps under one of them"


def test_a_repeated_name_used_by_the_mapping_is_refused_with_its_positions(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving,titel\nA1,Een,x,Een bis\n", encoding="utf-8")
    with pytest.raises(AmbiguousColumnError) as info:
        plan_of(tmp_path, commitments_doc())
    assert (info.value.file, info.value.column, info.value.positions) == ("src.csv", "titel", (2, 4))
    assert str(info.value) == (
        "src.csv: column 'titel' is ambiguous: the header has it at positions #2, #4; name one of them"
    )


def test_a_missing_column_or_position_is_named(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving\nA1,Een,x\n", encoding="utf-8")
    doc = commitments_doc(commitment={"theme": {"column": "#4"}, "unit": {"column": "eenheid"}})
    with pytest.raises(SourceDataError) as info:
        plan_of(tmp_path, doc)
    assert str(info.value) == "src.csv: missing column(s) ['#4', 'eenheid']; the header has ['id', 'titel', 'omschrijving']"


# ------------------------------------------------------------------ read: xlsx


def write_workbook(path):
    workbook = openpyxl.Workbook()
    workbook.active.title = "Toelichting"
    workbook.active["A1"] = "Zie het tabblad Afspraken"
    sheet = workbook.create_sheet("Afspraken")
    sheet.append(["Afsprakenlijst 2024"])
    sheet.append(["id", "titel", "omschrijving", "aantal", "deadline", "gewijzigd"])
    sheet.append(["A1", "Een", 12.5, 3.0, datetime(2026, 12, 31), datetime(2024, 5, 1, 14, 30, 5)])
    sheet.append([7, "Twee", None, 10, date(2027, 1, 15), True])
    sheet.append([None, None, None, None, None, None])  # trailing empty rows are not records
    workbook.save(path)


def test_xlsx_sheet_by_name_with_dates_and_numbers_as_text(tmp_path):
    write_workbook(tmp_path / "afspraken.xlsx")
    doc = commitments_doc(
        file="afspraken.xlsx",
        read={"format": "xlsx", "sheet": "Afspraken", "header_row": 2},
        commitment={
            "description": {"template": "{omschrijving} | {gewijzigd}"},
            "target_quantity": {"column": "aantal"},
            "due_date": {"template": "{deadline}T23:59:59+01:00"},
        },
    )
    plan = plan_of(tmp_path, doc)
    assert [(op.external_ref, op.title, op.description, op.target_quantity, op.due_date) for op in plan.commitments] == [
        ("A1", "Een", "12.5 | 2024-05-01T14:30:05", 3, 1798757999),
        ("7", "Twee", " | TRUE", 10, 1800053999),
    ]
    assert [(r.file, r.line, r.key, r.outcome) for r in plan.report] == [
        ("afspraken.xlsx", 3, "A1", "planned"), ("afspraken.xlsx", 4, "7", "planned"),
    ]


def test_xlsx_sheet_by_position_and_a_missing_sheet(tmp_path):
    write_workbook(tmp_path / "afspraken.xlsx")
    doc = commitments_doc(file="afspraken.xlsx", read={"format": "xlsx", "sheet": 2, "header_row": 2})
    assert ops(plan_of(tmp_path, doc)) == [("A1", "Een", "12.5"), ("7", "Twee", "")]
    doc["read"]["sheet"] = "Begroting"
    with pytest.raises(SourceDataError) as info:
        plan_of(tmp_path, doc)
    assert str(info.value) == "afspraken.xlsx: read.sheet 'Begroting': no such sheet; the workbook has ['Toelichting', 'Afspraken']"


# ------------------------------------------------------------------ read: json


def test_json_records_at_a_dotted_path_with_nested_values_flattened(tmp_path):
    document = {
        "meta": {"count": 2},
        "result": {"records": [
            {"id": "J1", "titel": "Een", "adres": {"plaats": "Baarn", "wijk": {"naam": "Centrum"}}, "tags": ["groen", "wijk"]},
            {"id": 2, "titel": "Twee", "adres": {"plaats": "Eemnes"}, "klaar": False, "score": 4.0},
        ]},
    }
    (tmp_path / "open.json").write_text(json.dumps(document), encoding="utf-8")
    doc = commitments_doc(
        file="open.json", read={"format": "json", "records": "result.records"},
        commitment={"description": {"template": "{adres.plaats}/{adres.wijk.naam}/{tags}/{klaar}/{score}/{#4}"}},
    )
    plan = plan_of(tmp_path, doc)
    assert ops(plan) == [
        ("J1", "Een", 'Baarn/Centrum/["groen","wijk"]///Centrum'),
        ("2", "Twee", "Eemnes///false/4/"),
    ]
    assert [(r.line, r.key) for r in plan.report] == [(1, "J1"), (2, "2")]


def test_json_records_path_that_is_not_a_list_is_a_source_error(tmp_path):
    (tmp_path / "open.json").write_text(json.dumps({"result": {"records": {"id": 1}}}), encoding="utf-8")
    doc = commitments_doc(file="open.json", read={"format": "json", "records": "result.rows"})
    with pytest.raises(SourceDataError) as info:
        plan_of(tmp_path, doc)
    assert str(info.value) == "open.json: read.records 'result.rows': result has no key 'rows'"


# ------------------------------------------------------------------ group:


def test_continuation_rows_are_merged_into_the_row_above(tmp_path):
    (tmp_path / "src.csv").write_text(
        "id,titel,omschrijving,boletin\n"
        ",,,9-07\n"          # continues nothing: invalid
        "A1,Een,x,1-07\n"
        ",,,2-07\n"
        ",Een,,3-07\n"       # the same title again: nothing lost, no warning
        "A2,Twee,y,\n"
        ",Anders,,4-07\n",   # another title on a continuation row: ignored, warned
        encoding="utf-8")
    doc = commitments_doc(
        group={"continuation": {"column": "id", "empty": True}, "collect": {"boletin": "; "}},
        commitment={"description": {"template": "{omschrijving} ({boletin})"}},
    )
    plan = plan_of(tmp_path, doc)
    assert ops(plan) == [("A1", "Een", "x (1-07; 2-07; 3-07)"), ("A2", "Twee", "y (4-07)")]
    assert rows(plan) == [
        (2, "", "invalid", "a continuation row (group.continuation on 'id') with no row above it to continue", (), ()),
        (3, "A1", "planned", None, (), (4, 5)),
        (6, "A2", "planned", None,
         ("line 7 (merged into this row): titel ignored (not collected by group, and different from this row's)",), (7,)),
    ]


def test_a_group_column_from_a_joined_file_is_refused(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving,brief\nA1,Een,x,B1\n", encoding="utf-8")
    (tmp_path / "brieven.csv").write_text("kenmerk,datum\nB1,2024-01-01\n", encoding="utf-8")
    doc = commitments_doc(group={"continuation": {"column": "brief.datum", "empty": True}},
                          join=[{"file": "brieven.csv", "on": {"column": "brief", "to": "kenmerk"}, "prefix": "brief."}])
    with pytest.raises(SourceDataError) as info:
        plan_of(tmp_path, doc)
    assert str(info.value) == (
        "src.csv: group.continuation.column: 'brief.datum' is not a column of this file (group reads the file's "
        "own columns); the header has ['id', 'titel', 'omschrijving', 'brief']"
    )


# ------------------------------------------------------------------ join:


def join_files(tmp_path):
    (tmp_path / "src.csv").write_text(
        "id,titel,brief\nA1,Een,B-1\nA2,Twee, B-2 \nA3,Drie,B-9\nA4,Vier,\n", encoding="utf-8")
    (tmp_path / "brieven.csv").write_bytes(
        "kenmerk;datum;onderwerp\nB-1;2024-01-05;Wijkplan\nB-2;2024-02-09;Café\n".encode("windows-1252"))


def join_doc(required):
    return commitments_doc(
        join=[{"file": "brieven.csv", "read": {"encoding": "windows-1252", "delimiter": ";"},
               "on": {"column": "brief", "to": "kenmerk"}, "prefix": "brief.", "required": required}],
        commitment={"description": {"template": "{brief.onderwerp} ({brief.#2})"}},
    )


def test_a_required_join_makes_a_row_without_a_match_invalid(tmp_path):
    join_files(tmp_path)
    plan = plan_of(tmp_path, join_doc(required=True))
    assert ops(plan) == [("A1", "Een", "Wijkplan (2024-01-05)"), ("A2", "Twee", "Café (2024-02-09)")]
    assert rows(plan) == [
        (2, "A1", "planned", None, (), ()),
        (3, "A2", "planned", None, (), ()),
        (4, "A3", "invalid", "join.0 (required): no row of brieven.csv has kenmerk 'B-9'", (), ()),
        (5, "A4", "invalid", "join.0 (required): brief is empty", (), ()),
    ]
    assert parse_mapping(join_doc(required=True)).files() == ["src.csv", "brieven.csv"]


def test_an_optional_join_leaves_the_columns_empty_with_a_warning(tmp_path):
    join_files(tmp_path)
    plan = plan_of(tmp_path, join_doc(required=False))
    assert ops(plan) == [("A1", "Een", "Wijkplan (2024-01-05)"), ("A2", "Twee", "Café (2024-02-09)"),
                         ("A3", "Drie", " ()"), ("A4", "Vier", " ()")]
    assert [r.warnings for r in plan.report] == [
        (), (),
        ("join.0: no row of brieven.csv has kenmerk 'B-9'; its brief.* columns are empty",),
        ("join.0: brief is empty; its brief.* columns are empty",),
    ]


def test_a_key_repeated_in_the_joined_file_is_a_source_error_naming_its_lines(tmp_path):
    join_files(tmp_path)
    (tmp_path / "brieven.csv").write_bytes(b"kenmerk;datum;onderwerp\nB-1;2024-01-05;a\nB-2;2024-02-09;b\nB-1 ;2024-03-01;c\n")
    with pytest.raises(DuplicateJoinKeyError) as info:
        plan_of(tmp_path, join_doc(required=True))
    assert (info.value.file, info.value.column, info.value.key, info.value.lines) == ("brieven.csv", "kenmerk", "B-1", (2, 4))
    assert str(info.value) == "brieven.csv: join key kenmerk 'B-1' is on lines 2, 4: a joined file must have each key once"


# ------------------------------------------------------------------ default


def test_defaults_fill_empty_values_after_cleaning_and_before_transforms(tmp_path):
    (tmp_path / "src.csv").write_text(
        "id,titel,omschrijving,aantal,thema\nA1,Een,x,,-\nA2,Twee,y,5,Wonen\nA3,Drie,z,  ,\n", encoding="utf-8")
    doc = commitments_doc(
        clean={"thema": [{"replace": {"pattern": "^-$", "with": "", "reason": "a dash means no theme"}}]},
        commitment={
            "target_quantity": {"column": "aantal", "default": 1},
            "theme": {"column": "thema", "default": "algemeen onderwerp", "transforms": [{"truncate_bytes": {"max_bytes": 11}}]},
        },
    )
    plan = plan_of(tmp_path, doc)
    assert [(op.external_ref, op.target_quantity, op.theme) for op in plan.commitments] == [
        ("A1", 1, "algemeen…"), ("A2", 5, "Wonen"), ("A3", 1, "algemeen…"),
    ]


def test_without_a_default_an_empty_value_makes_the_row_invalid(tmp_path):
    (tmp_path / "src.csv").write_text("id,titel,omschrijving,aantal\nA1,Een,x,\n", encoding="utf-8")
    plan = plan_of(tmp_path, commitments_doc(commitment={"target_quantity": {"column": "aantal"}}))
    assert rows(plan) == [(2, "A1", "invalid", "target_quantity: '' is not a whole number", (), ())]


# ------------------------------------------------------------------ progress snapshots


def snapshots_doc(**changes):
    doc = {
        "kind": "progress_snapshots",
        "source": {"id": "test-source", "name": "Test", "publisher": "Gemeente Test", "url": "https://example.org/x", "licence": "none stated"},
        "municipality": {"name": "Test", "code": "GM9999"},
        "key_column": "#1",
        "snapshots": [
            {"label": "2023", "file": "s2023.csv", "as_of": "2023-12-31T23:59:59+01:00"},
            {"label": "2024", "file": "s2024.csv", "as_of": "2024-12-31T23:59:59+01:00",
             "read": {"encoding": "windows-1252"}},
        ],
        "commitment": {
            "external_ref": {"column": "#1"},
            "title": {"column": "titel"},
            "description": {"column": "titel"},
            "target_quantity": {"const": 100},
            "unit": {"const": "%"},
            "promised_at": {"const": PROMISED},
            "due_date": {"const": DUE},
        },
        "progress": {"column": "voortgang", "default": "0%", "transforms": ["percent"]},
        "delivery": {"external_ref": {"template": "snapshot-{$snapshot}"}, "note": {"template": "{#4}"},
                     "evidence_columns": ["#4"]},
        "revocation_reason": {"template": "fell to {$to}%"},
        "read": {"delimiter": ";"},
    }
    doc.update(changes)
    return doc


def test_snapshots_share_the_mappings_read_block_and_one_snapshot_overrides_a_key(tmp_path):
    (tmp_path / "s2023.csv").write_text("nr;titel;voortgang;\nP1;Een;;eerste\nP2;Twee;50%;b\n", encoding="utf-8")
    (tmp_path / "s2024.csv").write_bytes("nr;titel;voortgang;\nP1;Een;40%;Brief €\nP2;Twee;50%;b\n".encode("windows-1252"))
    mapping = parse_mapping(snapshots_doc())
    assert [s.read.model_dump() if s.read else None for s in mapping.snapshots] == [
        None,
        {"format": "csv", "encoding": "windows-1252", "delimiter": ";", "quote": '"', "header_row": 1, "sheet": 1, "records": ""},
    ]
    plan = plan_source(mapping, tmp_path)
    assert [(op.describe(), getattr(op, "note", None)) for op in plan.operations] == [
        ("register commitment 'P1' (target 100 %)", None),
        ("register commitment 'P2' (target 100 %)", None),
        ("record delivery 'snapshot-2023' of 50 on commitment 'P2'", "b"),
        ("record delivery 'snapshot-2024' of 40 on commitment 'P1'", "Brief €"),
    ]
    assert json.loads(plan.deliveries[1].evidence_files[0].content)["#4"] == "Brief €"
    assert [(r.file, r.line, r.outcome) for r in plan.report] == [
        ("s2023.csv", 2, "planned"), ("s2023.csv", 3, "planned"), ("s2024.csv", 2, "planned"), ("s2024.csv", 3, "unchanged"),
    ]


# ------------------------------------------------------------------ mapping validation


def test_an_unknown_codec_is_refused_at_its_location():
    assert problems_of(commitments_doc(read={"encoding": "utf-9"})) == [
        "read.encoding: unknown codec 'utf-9'; give a Python codec name such as utf-8 or windows-1252",
    ]
    assert problems_of(commitments_doc(read={"encoding": "base64"})) == [
        "read.encoding: codec 'base64' does not decode bytes to text; give a text encoding such as utf-8",
    ]


def test_a_two_character_delimiter_is_refused_at_its_location():
    doc = snapshots_doc()
    doc["snapshots"][1]["read"] = {"delimiter": ";;"}
    assert problems_of(doc) == ["snapshots.1.read.delimiter: delimiter ';;' must be one character or 'auto'"]


def test_a_bad_sheet_is_refused_at_its_location():
    assert problems_of(commitments_doc(read={"format": "xlsx", "sheet": 0})) == [
        "read.sheet: sheet 0 must be a sheet name or a 1-based position (1 = the first sheet)",
    ]
    assert problems_of(commitments_doc(read={"sheet": "Afspraken"})) == [
        "read: sheet: not used by format csv; it takes delimiter, encoding, header_row, quote",
    ]


def test_a_joined_files_read_block_and_key_are_validated_at_their_location():
    doc = commitments_doc(join=[
        {"file": "b.csv", "read": {"encoding": "latin-9x"}, "on": {"column": "id"}, "prefix": "b."},
        {"file": "../c.csv", "on": {"column": "id", "to": "id"}, "prefix": "c.", "requird": False},
    ])
    assert problems_of(doc) == [
        "join.0.read.encoding: unknown codec 'latin-9x'; give a Python codec name such as utf-8 or windows-1252",
        "join.0.on.to: Field required",
        "join.1.file: '../c.csv' must be a path relative to the data directory, without '..'",
        "join.1.requird: Extra inputs are not permitted",
    ]


def test_overlapping_join_prefixes_and_a_default_beside_a_const_are_refused():
    doc = commitments_doc(
        join=[{"file": "b.csv", "on": {"column": "id", "to": "id"}, "prefix": "brief."},
              {"file": "c.csv", "on": {"column": "id", "to": "id"}, "prefix": "brief.bijlage."}],
        commitment={"unit": {"const": "afspraak", "default": "x"}},
    )
    assert problems_of(doc) == [
        "commitment.unit: default is for a column or template value that may be empty, not for a const",
        "join: prefixes 'brief.' and 'brief.bijlage.' overlap: give each join its own prefix",
    ]


def test_a_group_condition_needs_exactly_one_test():
    doc = commitments_doc(group={"continuation": {"column": "id"}, "collect": {"boletin": "; "}})
    assert problems_of(doc) == [
        "group.continuation: give exactly one of equals, one_of, empty, matches (got none)",
    ]
