"""A Parquet input: read as the text a CSV holds, refused when it cannot be."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_engineering.src.files import parquet
from data_engineering.src.files.source import CsvFormatError
from data_engineering.src.schema import ColumnsError
from data_engineering.src.synthetic import make_bookings


def test_a_parquet_file_reads_as_the_text_a_csv_holds(tmp_path: Path) -> None:
    import datetime as dt

    frame = make_bookings(3, seed=4)
    frame["lead_time"] = [7, 0, 120]  # numbers stored as numbers
    frame["adr"] = [75.5, 0.0, 120.25]
    frame["country"] = ["PRT", None, "FRA"]
    frame["as_of"] = [dt.date(2016, 3, 1), None, dt.date(2016, 3, 2)]
    path = tmp_path / "in.parquet"
    frame.to_parquet(path, index=False)
    announced: list[str] = []
    with parquet.open_bookings(path, scoring=True, announce=announced.append) as reader:
        chunks = list(reader)
    assert announced == [f"reading {path}: Parquet, 3 rows"]
    table = chunks[0].table
    assert chunks[0].lines.tolist() == [1, 2, 3]  # a row's number in the file
    assert table["lead_time"].to_pylist() == ["7", "0", "120"]
    assert table["adr"].to_pylist() == ["75.5", "0", "120.25"]
    assert table["country"].to_pylist() == ["PRT", None, "FRA"]  # null: missing, as an empty CSV field
    assert table["as_of"].to_pylist() == ["2016-03-01", None, "2016-03-02"]


def test_a_parquet_file_without_a_column_or_with_nested_values_is_refused(tmp_path: Path) -> None:
    frame = make_bookings(2, seed=4)
    frame.drop(columns=["hotel"]).to_parquet(tmp_path / "short.parquet", index=False)
    with pytest.raises(ColumnsError, match="missing column"):
        parquet.open_bookings(tmp_path / "short.parquet", scoring=True, announce=None)
    nested = pa.Table.from_pandas(frame, preserve_index=False)
    nested = nested.append_column("extras", pa.array([[1, 2], [3]], pa.list_(pa.int64())))
    pq.write_table(nested, tmp_path / "nested.parquet")
    with pytest.raises(CsvFormatError, match="column\\(s\\) extras hold lists or records"):
        parquet.open_bookings(tmp_path / "nested.parquet", scoring=True, announce=None)
    (tmp_path / "not.parquet").write_text("hotel,lead_time\n")
    with pytest.raises(CsvFormatError, match="not a Parquet file"):
        parquet.open_bookings(tmp_path / "not.parquet", scoring=True, announce=None)
