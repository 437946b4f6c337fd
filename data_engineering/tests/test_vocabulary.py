"""vocabulary: the categorical values of a bookings export and their counts, streamed; the YAML file."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from data_engineering.src import schema
from data_engineering.src.schema import VOCABULARIES
from data_engineering.src.schema import VOCABULARY_FILE as DEFAULT_FILE
from data_engineering.src.synthetic import make_bookings, write_european
from data_engineering.src.vocabulary import VocabularyError, count, main, render_yaml
from data_engineering.tests.helpers import bookings_file, run_cli

OTHER_HOTELS = {"City Hotel": "Hôtel du Lac: Annexe", "Resort Hotel": "Yes"}  # YAML must quote both
OTHER_ROOMS = {
    "A": "STD",
    "D": "DLX",
    "E": "#2",
    "F": "123",
    "G": "[suite]",
    "B": "STD",
    "C": "DLX",
    "H": "PH",
}


def other_hotels_frame(rows: int = 600) -> pd.DataFrame:
    frame = make_bookings(rows, seed=9)
    frame["hotel"] = frame["hotel"].map(OTHER_HOTELS)
    for column in ("reserved_room_type", "assigned_room_type"):
        frame[column] = frame[column].map(OTHER_ROOMS)
    return frame


def expected_counts(path: Path) -> dict[str, Counter[str]]:
    """The same counts, the slow way: Python's csv module, row by row."""
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    return {
        name: Counter(row[column].strip() for row in rows for column in columns if column in row)
        for name, columns in VOCABULARIES.items()
    }


def test_counts_equal_a_row_by_row_count_across_many_blocks(tmp_path: Path) -> None:
    path = bookings_file(tmp_path, rows=3000)
    result = count(path, block_size=16 << 10)  # ~20 blocks of 16 kB
    assert result.rows == 3000
    assert result.counts == expected_counts(path)
    assert sum(result.counts["room_type"].values()) == 2 * 3000  # reserved + assigned


def test_gzip_and_plain_files_give_the_same_vocabulary(tmp_path: Path) -> None:
    frame = make_bookings(500, seed=1)
    plain = count(bookings_file(tmp_path, "a.csv", frame=frame))
    gz = count(bookings_file(tmp_path, "b.csv.gz", frame=frame))
    # gzip is recognised from the bytes, not the name
    unnamed = count((tmp_path / "b.csv.gz").rename(tmp_path / "export"))
    assert plain.counts == gz.counts == unnamed.counts


def test_room_type_is_reserved_only_without_assigned_room_type(tmp_path: Path) -> None:
    frame = make_bookings(400, seed=2).drop(columns=["assigned_room_type", "booking_changes"])
    result = count(bookings_file(tmp_path, frame=frame))
    assert result.columns["room_type"] == ("reserved_room_type",)
    assert result.counts["room_type"] == Counter(frame["reserved_room_type"])


def test_blanks_are_trimmed_and_empty_fields_are_not_values(tmp_path: Path) -> None:
    frame = make_bookings(200, seed=3)
    frame.loc[:9, "hotel"] = "  City Hotel "
    frame.loc[10:14, "meal"] = ""
    result = count(bookings_file(tmp_path, frame=frame))
    assert set(result.counts["hotel"]) == {"City Hotel", "Resort Hotel"}
    assert "" not in result.counts["meal"]
    assert result.empty["meal"] == 5


def test_write_gives_the_yaml_file_for_other_hotels(tmp_path: Path, capsys) -> None:
    source = bookings_file(tmp_path, "export.csv", frame=other_hotels_frame())
    target = tmp_path / "config" / "vocabulary.yaml"
    assert main([str(source), "--write", str(target)]) == 0
    text = target.read_text()
    written = yaml.safe_load(text)
    assert list(written) == list(VOCABULARIES)
    assert written["hotel"] == ["Hôtel du Lac: Annexe", "Yes"]
    assert written["room_type"] == sorted(set(OTHER_ROOMS.values()))
    assert written == {name: sorted(values) for name, values in expected_values(source).items()}
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert [line.split(":")[0] for line in body] == list(VOCABULARIES)
    assert all(": [" in line and "]  # " in line for line in body)  # flow lists, counts as comments
    assert text.startswith("# ")
    assert "./cli.sh vocabulary" in text
    assert list(tmp_path.joinpath("config").iterdir()) == [target]  # no temporary file left
    out = capsys.readouterr().out
    assert "export.csv: 600 bookings" in out
    assert "room_type (6 values, from reserved_room_type + assigned_room_type)" in out


def expected_values(path: Path) -> dict[str, list[str]]:
    return {name: sorted(counter) for name, counter in expected_counts(path).items()}


def test_the_table_gives_value_count_and_share(tmp_path: Path, capsys) -> None:
    frame = make_bookings(400, seed=4)
    frame["deposit_type"] = ["Non Refund"] * 100 + ["No Deposit"] * 300
    assert main([str(bookings_file(tmp_path, frame=frame))]) == 0
    out = capsys.readouterr().out.splitlines()
    section = out.index("deposit_type (2 values, from deposit_type)")
    assert out[section + 1].split() == ["value", "count", "share"]
    assert out[section + 2].split() == ["No", "Deposit", "300", "75.0%"]
    assert out[section + 3].split() == ["Non", "Refund", "100", "25.0%"]


def test_a_failed_run_keeps_the_previous_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "vocabulary.yaml"
    target.write_text("previous\n")
    frame = make_bookings(50, seed=1).drop(columns=["meal"])
    assert main([str(bookings_file(tmp_path, frame=frame)), "--write", str(target)]) == 1
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bookings.csv", "vocabulary.yaml"]
    assert "missing column(s) meal" in capsys.readouterr().err


def test_european_files_are_counted_as_written(tmp_path: Path) -> None:
    frame = make_bookings(300, seed=4)
    frame.loc[5, "hotel"] = "Hôtel du Lac"  # Windows-1252, from line 7 on
    expected = count(bookings_file(tmp_path, frame=frame)).counts
    european = write_european(tmp_path / "export.csv", frame, encoding="cp1252")
    assert count(european).counts == expected
    assert expected["hotel"]["Hôtel du Lac"] == 1


def test_missing_columns_are_named(tmp_path: Path) -> None:
    frame = make_bookings(20, seed=1).drop(columns=["hotel", "customer_type", "assigned_room_type"])
    with pytest.raises(VocabularyError) as error:
        count(bookings_file(tmp_path, frame=frame))
    assert "missing column(s) hotel, customer_type (" in str(error.value)  # assigned_room_type is optional


def test_a_vocabulary_yaml_would_mangle_is_refused() -> None:
    values = {name: ["x"] for name in VOCABULARIES} | {"hotel": ["City Hotel", ""]}
    with pytest.raises(VocabularyError, match="hotel"):
        render_yaml(values, ["header"])
    with pytest.raises(VocabularyError, match="exactly"):
        render_yaml({"hotel": ["x"]}, ["header"])


def test_cli_takes_paths_from_the_callers_folder(tmp_path: Path) -> None:
    source = bookings_file(tmp_path, "export.csv.gz", frame=other_hotels_frame(100))
    (tmp_path / "work").mkdir()
    run = run_cli(tmp_path / "work", "vocabulary", f"../{source.name}", "--write", "out/v.yaml")
    assert run.returncode == 0, run.stderr
    written = yaml.safe_load((tmp_path / "work" / "out" / "v.yaml").read_text())
    assert written["hotel"] == sorted(OTHER_HOTELS.values())
    usage = run_cli(tmp_path, "vocabulary", "a.csv", "--rows", "3")
    assert usage.returncode == 2
    assert "unknown option '--rows'" in usage.stderr


# --------------------------------------------------------------------------- the default file


def test_default_file_is_what_the_column_spec_reads_in_the_fixed_format(monkeypatch) -> None:
    monkeypatch.delenv(schema.VOCABULARY_ENV, raising=False)
    text = DEFAULT_FILE.read_text()
    assert schema.vocabulary_file() == DEFAULT_FILE
    document = yaml.safe_load(text)
    assert {name: tuple(values) for name, values in document.items()} == schema.load_vocabulary(DEFAULT_FILE)
    for name, columns in schema.VOCABULARIES.items():
        for column in columns:
            assert schema.COLUMNS_BY_NAME[column].categories == tuple(document[name])
    header = [line[2:] for line in text.splitlines() if line.startswith("#")]
    assert render_yaml(document, header) == text  # as the command writes it


def test_default_file_covers_the_public_dataset(shared_data: Path) -> None:
    """Every value of the public extract is in the default vocabulary (nothing of it is stored)."""
    default = yaml.safe_load(DEFAULT_FILE.read_text())
    for name, values in count(shared_data).values().items():
        assert set(values) <= set(default[name]), name
