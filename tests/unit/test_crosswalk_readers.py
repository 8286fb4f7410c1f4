"""`read_delivery`: everything as text, row numbers a person recognises, and bad input
rejected with the file, the row and the column, never with the row's content."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from ctdc_assets.crosswalk import DeliveryError, load_crosswalk, read_delivery
from ctdc_assets.crosswalk.model import Crosswalk

CSV_CROSSWALK = """\
read: {format: csv}
case_id: id
identifiers: [id, name]
variables:
  gender: {map: {column: sex}}
  citizenship: {country: {column: country}}
"""


def crosswalk(tmp_path: Path, text: str = CSV_CROSSWALK, name: str = "partner") -> Crosswalk:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_crosswalk(path)


def delivery(tmp_path: Path, content: bytes | str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def read_error(tmp_path: Path, content: bytes | str, cw: Crosswalk | None = None, **kw) -> str:
    path = delivery(tmp_path, content, **kw)
    with pytest.raises(DeliveryError) as caught:
        read_delivery(cw or crosswalk(tmp_path), path)
    message = str(caught.value)
    assert str(path) in message
    assert "CANARY" not in message  # row content is never echoed
    return message


def test_csv_all_text_no_inference(tmp_path: Path) -> None:
    path = delivery(
        tmp_path,
        'id,name,sex,country,extra\n1,"CANARY, Jo",F,NA,-99\n002,,,-99,\n3,"multi\nline",M,US,x\n',
    )
    frame = read_delivery(crosswalk(tmp_path), path)
    assert frame.schema == dict.fromkeys(["id", "name", "sex", "country", "extra"], pl.String) | {
        "source_row": pl.Int64
    }
    assert frame["country"].to_list() == ["NA", "-99", "US"]  # Namibia is not null
    assert frame["id"].to_list() == ["1", "002", "3"]  # no numbers, no lost zeros
    assert frame["extra"].to_list() == ["-99", None, "x"]  # unknown column kept; empty -> null
    assert frame["source_row"].to_list() == [2, 3, 4]  # header is row 1


def test_csv_other_encoding_and_bom(tmp_path: Path) -> None:
    cw = crosswalk(
        tmp_path, CSV_CROSSWALK.replace("{format: csv}", "{format: csv, encoding: cp1252}")
    )
    path = delivery(tmp_path, "id,name,sex,country\n1,Zoë,F,Côte d'Ivoire\n".encode("cp1252"))
    assert read_delivery(cw, path)["country"].to_list() == ["Côte d'Ivoire"]
    bom = delivery(tmp_path, "\ufeffid,name,sex,country\n1,A,F,FR\n", name="bom.csv")
    assert read_delivery(crosswalk(tmp_path), bom).columns[0] == "id"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", ["empty file"], id="empty_file"),
        pytest.param("id,name,sex,country\n", ["no records"], id="header_only"),
        pytest.param(
            "id,name,gender,country\n1,CANARY,F,FR\n",
            ["row 1 (header)", "missing: sex"],
            id="required_column_missing",
        ),
        pytest.param(
            "id;name;sex;country\n1;CANARY;F;FR\n", ["wrong delimiter", "';'"], id="wrong_delimiter"
        ),
        pytest.param(
            b"id,name,sex,country\n1,A,F,FR\n2,CANARY \xff\xfe,M,DE\n",
            ["line 3", "byte offset 38", "utf-8"],
            id="undecodable_bytes",
        ),
        pytest.param(
            "id,name,sex,country\n1,A,F,FR\n2,CANARY,M\n3,B,F,DE\n",
            ["row 3", "'country'"],
            id="ragged_row",
        ),
        pytest.param(
            "id,name,sex,country\n1,A,F,FR,CANARY\n",
            ["row 2", "beyond the last column 'country'"],
            id="too_many_fields",
        ),
        pytest.param(
            "id,name,sex,country\n1,A,F,FR\n2,CANARY", ["row 3", "truncated"], id="truncated"
        ),
        pytest.param(b"\x00\x01\x02binary\x00garbage" * 10, ["NUL byte"], id="binary_nul"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 40, ["zip archive"], id="binary_zip"),
        pytest.param(b"%PDF-1.7\n", ["PDF"], id="binary_pdf"),
    ],
)
def test_bad_csv_says_where_and_why(
    tmp_path: Path, content: bytes | str, expected: list[str]
) -> None:
    message = read_error(tmp_path, content)
    for fragment in expected:
        assert fragment in message


def test_unclosed_quote_at_end(tmp_path: Path) -> None:
    message = read_error(tmp_path, 'id,name,sex,country\n1,A,F,FR\n2,"CANARY,M,DE\n')
    assert "DeliveryError" not in message  # a readable sentence, not a traceback
    assert "row" in message or "CSV" in message


# --------------------------------------------------------------------------- xlsx

XLSX_CROSSWALK = """\
read: {format: xlsx, sheet: 'Cases*'}
case_id: id
identifiers: [id]
variables:
  gender: {map: {column: sex}}
"""


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_xlsx_text_rows_and_sheets(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "w.xlsx",
        {
            "About": [["Export of cases"]],
            "Cases": [["id", "sex", "n"], ["A1", "F", 7], [None, None, None], ["A2", "NA", None]],
            "Cases 2": [["id", "sex", "n"], ["A3", "M", 1.5]],
        },
    )
    frame = read_delivery(crosswalk(tmp_path, XLSX_CROSSWALK), path)
    assert frame["id"].to_list() == ["A1", "A2", "A3"]
    assert frame["sex"].to_list() == ["F", "NA", "M"]
    assert frame["n"].to_list() == ["7", None, "1.5"]
    assert frame["source_row"].to_list() == [2, 4, 2]  # blank row 3 is not a record
    assert frame["source_sheet"].to_list() == ["Cases", "Cases", "Cases 2"]


def test_xlsx_missing_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"About": [["x"]], "Sheet1": [["id", "sex"], [1, "F"]]})
    message = read_error(
        tmp_path, path.read_bytes(), crosswalk(tmp_path, XLSX_CROSSWALK), name="w2.xlsx"
    )
    assert "no sheet matches 'Cases*'" in message
    assert "About, Sheet1" in message


def test_xlsx_missing_column_and_header_only(tmp_path: Path) -> None:
    cw = crosswalk(tmp_path, XLSX_CROSSWALK)
    path = workbook(tmp_path / "a.xlsx", {"Cases": [["id", "gender"], ["A1", "F"]]})
    message = read_error(tmp_path, path.read_bytes(), cw, name="a2.xlsx")
    assert "row 1 (header)" in message and "sex" in message
    path = workbook(tmp_path / "b.xlsx", {"Cases": [["id", "sex"]]})
    assert "no records" in read_error(tmp_path, path.read_bytes(), cw, name="b2.xlsx")


def test_xlsx_that_is_not_a_workbook(tmp_path: Path) -> None:
    cw = crosswalk(tmp_path, XLSX_CROSSWALK)
    assert "not an xlsx workbook" in read_error(tmp_path, "id,sex\n1,F\n", cw, name="x.xlsx")


# --------------------------------------------------------------------------- JSON Lines

JSONL_CROSSWALK = """\
read: {format: jsonl}
case_id: case.id
identifiers: [case.id, person.name]
variables:
  gender: {map: {column: person.sex}}
  citizenship: {country: {column: person.country}}
"""


def test_jsonl_flattened_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        {"case": {"id": "L1", "ok": True}, "person": {"sex": "F", "country": "NA", "age": 23.0,
                                                       "name": {"given": "CANARY"}},
         "types": ["a", "b"]},
        {"case": {"id": "L2", "ok": False}, "person": {"sex": None, "country": "-99", "age": None,
                                                        "name": {"given": None}},
         "types": []},
    ]  # fmt: skip
    text = json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n"
    frame = read_delivery(crosswalk(tmp_path, JSONL_CROSSWALK), delivery(tmp_path, text, "d.jsonl"))
    assert frame["source_row"].to_list() == [1, 3]  # line numbers, blank line skipped
    assert frame["case.ok"].to_list() == ["true", "false"]
    assert frame["person.country"].to_list() == ["NA", "-99"]
    assert frame["person.age"].to_list() == ["23", None]
    assert frame["person.name.given"].to_list() == ["CANARY", None]
    assert frame["types"].to_list() == ["a;b", None]


def test_jsonl_broken_line(tmp_path: Path) -> None:
    good = json.dumps({"case": {"id": "L1"}, "person": {"sex": "F", "country": "FR"}})
    text = f'{good}\n{good}\n{{"case": {{"id": "CANARY"}}, "person": \n{good}\n'
    message = read_error(tmp_path, text, crosswalk(tmp_path, JSONL_CROSSWALK), name="d.jsonl")
    assert "line 3" in message
    assert "broken JSON" in message


def test_jsonl_not_objects_and_missing_field(tmp_path: Path) -> None:
    cw = crosswalk(tmp_path, JSONL_CROSSWALK)
    message = read_error(tmp_path, "[1, 2]\n[3]\n", cw, name="a.jsonl")
    assert "line 1" in message
    text = json.dumps({"case": {"id": "L1"}, "person": {"sex": "F"}}) + "\n"
    message = read_error(tmp_path, text, cw, name="b.jsonl")
    assert "person.country" in message


def test_parquet_is_read_as_text(tmp_path: Path) -> None:
    cw = crosswalk(tmp_path, CSV_CROSSWALK.replace("format: csv", "format: parquet"))
    path = tmp_path / "d.parquet"
    pl.DataFrame(
        {"id": [1, 2], "name": ["a", None], "sex": ["F", "M"], "country": ["NA", "FR"],
         "tags": [["x", "y"], []]}
    ).write_parquet(path)  # fmt: skip
    frame = read_delivery(cw, path)
    assert frame["id"].to_list() == ["1", "2"]
    assert frame["country"].to_list() == ["NA", "FR"]
    assert frame["tags"].to_list() == ["x;y", None]
    assert frame["source_row"].to_list() == [1, 2]
