"""Reading, loading and harmonizing in pieces gives what doing it whole gives.

At 10 million records the ingest layer works a batch (or a sheet, or a chunk) at a
time; these tests cut small deliveries into tiny pieces and compare with the whole.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import SAMPLE_CONTRIBUTORS
from polars.testing import assert_frame_equal

from ctdc_assets.crosswalk import (
    DeliveryError,
    harmonize,
    load_crosswalk,
    read_delivery,
    readers_csv,
)
from ctdc_assets.crosswalk.readers import iter_delivery
from ctdc_assets.warehouse import tables
from ctdc_assets.warehouse.harmonize import harmonize_table
from ctdc_assets.warehouse.io import load_batches

KEY = b"chunk-test-key"


@pytest.fixture(scope="module")
def sample(sample_deliveries) -> dict[str, Path]:
    return sample_deliveries(1500, 5)


@pytest.fixture(autouse=True)
def small_csv_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers_csv, "CSV_MIN_BLOCK", 1 << 12)


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_batches_concatenate_to_the_whole(sample, crosswalks, name: str) -> None:
    whole = read_delivery(crosswalks[name], sample[name])
    batches = list(iter_delivery(crosswalks[name], sample[name], batch_rows=97))
    assert all(b.schema == whole.schema for b in batches)
    assert_frame_equal(pl.concat(batches), whole)
    if name != "case_agency":  # xlsx comes a sheet at a time
        assert len(batches) > 2


def test_csv_batches_keep_row_numbers_across_multiline_values(tmp_path: Path) -> None:
    yaml = tmp_path / "partner.yaml"
    yaml.write_text(
        "read: {format: csv}\ncase_id: id\nidentifiers: [id, note]\n"
        "variables:\n  gender: {map: {column: sex}}\n",
        encoding="utf-8",
    )
    rows = "".join(
        f'{i},"line one\nline two, {i}",F\n' if i % 3 == 0 else f"{i},,NA\n" for i in range(500)
    )
    path = tmp_path / "d.csv"
    path.write_text("id,note,sex\n" + rows, encoding="utf-8")
    cw = load_crosswalk(yaml)
    batches = list(iter_delivery(cw, path, batch_rows=7))
    frame = pl.concat(batches)
    assert_frame_equal(frame, read_delivery(cw, path))
    assert frame["source_row"].to_list() == list(range(2, 502))
    assert frame["note"][3] == "line one\nline two, 3"
    assert frame["sex"][1] == "NA"


def test_jsonl_batches_keep_line_numbers_across_blank_lines(
    tmp_path: Path, crosswalks, sample_deliveries
) -> None:
    cw = crosswalks["ngo_network"]
    source = read_delivery(cw, _ngo_sample(tmp_path, sample_deliveries))
    lines = (tmp_path / "ngo.jsonl").read_text(encoding="utf-8").splitlines()
    spaced = "\n".join(line if i % 5 else line + "\n\n" for i, line in enumerate(lines)) + "\n"
    path = tmp_path / "ngo_network_cases_2025-01.jsonl"
    path.write_text(spaced, encoding="utf-8")
    whole = read_delivery(cw, path)
    batches = list(iter_delivery(cw, path, batch_rows=13))
    assert len(batches) > 3
    assert_frame_equal(pl.concat(batches), whole)
    assert whole.height == source.height
    assert whole["source_row"][:3].to_list() == [1, 4, 5]


def _ngo_sample(tmp_path: Path, sample_deliveries) -> Path:
    paths = sample_deliveries(400, 3)
    target = tmp_path / "ngo.jsonl"
    target.write_bytes(paths["ngo_network"].read_bytes())
    return target


def test_jsonl_error_in_a_later_batch_names_its_line(
    tmp_path: Path, crosswalks, sample_deliveries
) -> None:
    cw = crosswalks["ngo_network"]
    lines = _ngo_sample(tmp_path, sample_deliveries).read_text(encoding="utf-8").splitlines()
    lines[40] = lines[40][:-5]  # cut off: broken JSON on line 41
    path = tmp_path / "ngo_network_cases_2025-02.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DeliveryError, match="line 41"):
        list(iter_delivery(cw, path, batch_rows=10))


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_harmonize_in_chunks_equals_whole(sample, crosswalks, name: str) -> None:
    raw = read_delivery(crosswalks[name], sample[name])
    whole = harmonize(crosswalks[name], raw, KEY)
    chunked = harmonize(crosswalks[name], raw, KEY, chunk_rows=113)
    assert_frame_equal(chunked.frame, whole.frame)
    assert chunked.counts == whole.counts
    assert whole.counts["duplicates"] > 0  # the re-sent cases straddle chunks
    assert_frame_equal(chunked.unmapped, whole.unmapped)
    assert chunked.extra_columns == whole.extra_columns


def test_identical_rows_without_case_id_numbered_across_chunks(sample, crosswalks) -> None:
    cw = crosswalks["hotline"]
    raw = read_delivery(cw, sample["hotline"]).head(40)
    raw = pl.concat([raw, raw, raw]).with_columns(pl.lit(None, pl.String).alias(cw.case_id))
    whole = harmonize(cw, raw, KEY)
    chunked = harmonize(cw, raw, KEY, chunk_rows=17)
    assert whole.frame["record_key"].n_unique() == whole.frame.height
    assert_frame_equal(chunked.frame, whole.frame)


def test_load_batches_all_or_nothing(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = pl.DataFrame({"a": ["1", "2"], "source_row": [2, 3]})
    assert load_batches(con, tables.Table("raw", "t"), iter([first, first])) == 4

    def broken():
        yield pl.DataFrame({"a": ["x"], "source_row": [2]})
        raise DeliveryError("d.csv: row 3: bad")

    with pytest.raises(DeliveryError):
        load_batches(con, tables.Table("raw", "t"), broken())
    assert con.execute("SELECT count(*) FROM raw.t").fetchone()[0] == 4
    with pytest.raises(ValueError, match="no rows"):
        load_batches(con, tables.Table("raw", "t"), iter([]))
    assert con.execute("SELECT a FROM raw.t ORDER BY rowid").fetchall() == [
        ("1",),
        ("2",),
        ("1",),
        ("2",),
    ]


@pytest.mark.parametrize("name", SAMPLE_CONTRIBUTORS)
def test_harmonize_table_equals_harmonize(tmp_path: Path, sample, crosswalks, name: str) -> None:
    cw = crosswalks[name]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    delivered = read_delivery(cw, sample[name])
    # Some rows without a case id, identical ones among them: their record keys come
    # from every delivered column, fetched from the table apart from the chunk.
    blank = pl.int_range(pl.len()) % 50 < 2
    delivered = delivered.with_columns(
        pl.when(blank).then(None).otherwise(pl.col(cw.case_id)).alias(cw.case_id),
        *(
            pl.when(blank).then(pl.lit("same")).otherwise(pl.col(c)).alias(c)
            for c in delivered.columns
            if c not in cw.used_columns() and c not in ("source_row", "source_sheet")
        ),
    )
    load_batches(con, tables.raw(name), iter([delivered.head(700), delivered.slice(700)]))
    result = harmonize_table(
        con, cw, tables.raw(name), tables.harmonized(name), KEY, chunk_rows=101
    )
    expected = harmonize(cw, delivered, KEY)
    assert delivered[cw.case_id].null_count() > 5
    stored = con.execute(f"SELECT * FROM {tables.harmonized(name).staging} ORDER BY rowid").pl()
    assert_frame_equal(stored, expected.frame)
    assert result.counts == expected.counts
    assert_frame_equal(result.unmapped, expected.unmapped)
    assert result.extra_columns == expected.extra_columns
