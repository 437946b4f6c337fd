"""vocabulary: the categorical values of a bookings export and their counts, streamed; the YAML file."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from data_engineering.src import schema
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.schema import VOCABULARIES
from data_engineering.src.schema import VOCABULARY_FILE as DEFAULT_FILE
from data_engineering.src.synthetic import OTHER_HOTEL_GROUP, make_bookings, write_european
from data_engineering.src.vocabulary import VocabularyError, count, main, render_yaml

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


def bookings(tmp_path: Path, name: str = "bookings.csv", rows: int = 600, *, frame=None) -> Path:
    frame = make_bookings(rows, seed=5) if frame is None else frame
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", newline="") as out:
            frame.to_csv(out, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


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
    path = bookings(tmp_path, rows=3000)
    result = count(path, block_size=16 << 10)  # ~20 blocks of 16 kB
    assert result.rows == 3000
    assert result.counts == expected_counts(path)
    assert sum(result.counts["room_type"].values()) == 2 * 3000  # reserved + assigned


def test_gzip_and_plain_files_give_the_same_vocabulary(tmp_path: Path) -> None:
    frame = make_bookings(500, seed=1)
    plain = count(bookings(tmp_path, "a.csv", frame=frame))
    gz = count(bookings(tmp_path, "b.csv.gz", frame=frame))
    # gzip is recognised from the bytes, not the name
    unnamed = count((tmp_path / "b.csv.gz").rename(tmp_path / "export"))
    assert plain.counts == gz.counts == unnamed.counts


def test_room_type_is_reserved_only_without_assigned_room_type(tmp_path: Path) -> None:
    frame = make_bookings(400, seed=2).drop(columns=["assigned_room_type", "booking_changes"])
    result = count(bookings(tmp_path, frame=frame))
    assert result.columns["room_type"] == ("reserved_room_type",)
    assert result.counts["room_type"] == Counter(frame["reserved_room_type"])


def test_blanks_are_trimmed_and_empty_fields_are_not_values(tmp_path: Path) -> None:
    frame = make_bookings(200, seed=3)
    frame.loc[:9, "hotel"] = "  City Hotel "
    frame.loc[10:14, "meal"] = ""
    result = count(bookings(tmp_path, frame=frame))
    assert set(result.counts["hotel"]) == {"City Hotel", "Resort Hotel"}
    assert "" not in result.counts["meal"]
    assert result.empty["meal"] == 5


def test_write_gives_the_yaml_file_for_other_hotels(tmp_path: Path, capsys) -> None:
    source = bookings(tmp_path, "export.csv", frame=other_hotels_frame())
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
    assert main([str(bookings(tmp_path, frame=frame))]) == 0
    out = capsys.readouterr().out.splitlines()
    section = out.index("deposit_type (2 values, from deposit_type)")
    assert out[section + 1].split() == ["value", "count", "share"]
    assert out[section + 2].split() == ["No", "Deposit", "300", "75.0%"]
    assert out[section + 3].split() == ["Non", "Refund", "100", "25.0%"]


def test_a_failed_run_keeps_the_previous_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "vocabulary.yaml"
    target.write_text("previous\n")
    frame = make_bookings(50, seed=1).drop(columns=["meal"])
    assert main([str(bookings(tmp_path, frame=frame)), "--write", str(target)]) == 1
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bookings.csv", "vocabulary.yaml"]
    assert "missing column(s) meal" in capsys.readouterr().err


def _ragged(tmp_path: Path) -> Path:
    path = bookings(tmp_path, rows=20)
    with path.open("a") as out:
        out.write("City Hotel,0,12\n")
    return path


def _truncated_gzip(tmp_path: Path) -> Path:
    whole = bookings(tmp_path, "whole.csv.gz", rows=2000).read_bytes()
    return _write(tmp_path, "x.csv.gz", whole[: len(whole) // 2])


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


HEADER = ",".join(schema.RAW_COLUMN_NAMES).encode() + b"\n"
BAD_INPUTS = {
    "missing file": (lambda d: d / "nope.csv", "does not exist"),
    "a folder": (lambda d: d, "is not a file"),
    "empty file": (lambda d: _write(d, "empty.csv", b""), "empty.csv is empty"),
    "binary data": (
        lambda d: _write(d, "x.parquet", b"PAR1\x15\x04\xff\xfe\x00\x81"),
        "line 1 holds binary data",
    ),
    "truncated gzip": (_truncated_gzip, "a truncated or corrupt gzip file"),
    "one column": (
        lambda d: _write(d, "x.csv", b"hotel|meal|market_segment\nCity Hotel|BB|Direct\n"),
        "Is it a CSV separated by commas, semicolons or tabs",
    ),
    "a gzip bomb": (
        lambda d: _write(d, "bomb.csv.gz", gzip.compress(HEADER + b"\n" * (40 << 20))),
        "refused as a gzip bomb",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_clear_error(tmp_path: Path, capsys, case: str) -> None:
    make, message = BAD_INPUTS[case]
    assert main([str(make(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.splitlines()[-1]  # after the progress lines of a read that failed half-way
    assert last.startswith("vocabulary: error: ")
    assert message in last


def test_a_ragged_line_is_set_aside_and_named(tmp_path: Path, capsys) -> None:
    assert main([str(_ragged(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert (
        ": 20 bookings\n(1 line(s) set aside, not counted: line 22: line has 3 fields, expected 32)\n" in out
    )


def test_european_files_are_counted_as_written(tmp_path: Path) -> None:
    frame = make_bookings(300, seed=4)
    frame.loc[5, "hotel"] = "Hôtel du Lac"  # Windows-1252, from line 7 on
    expected = count(bookings(tmp_path, frame=frame)).counts
    european = write_european(tmp_path / "export.csv", frame, encoding="cp1252")
    assert count(european).counts == expected
    assert expected["hotel"]["Hôtel du Lac"] == 1


def test_missing_columns_are_named(tmp_path: Path) -> None:
    frame = make_bookings(20, seed=1).drop(columns=["hotel", "customer_type", "assigned_room_type"])
    with pytest.raises(VocabularyError) as error:
        count(bookings(tmp_path, frame=frame))
    assert "missing column(s) hotel, customer_type (" in str(error.value)  # assigned_room_type is optional


def test_a_vocabulary_yaml_would_mangle_is_refused() -> None:
    values = {name: ["x"] for name in VOCABULARIES} | {"hotel": ["City Hotel", ""]}
    with pytest.raises(VocabularyError, match="hotel"):
        render_yaml(values, ["header"])
    with pytest.raises(VocabularyError, match="exactly"):
        render_yaml({"hotel": ["x"]}, ["header"])


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO_ROOT / "cli.sh"), *args],
        cwd=cwd,
        env={**os.environ, "HOTEL_SKIP_SYNC": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_takes_paths_from_the_callers_folder(tmp_path: Path) -> None:
    source = bookings(tmp_path, "export.csv.gz", frame=other_hotels_frame(100))
    (tmp_path / "work").mkdir()
    run = _cli(tmp_path / "work", "vocabulary", f"../{source.name}", "--write", "out/v.yaml")
    assert run.returncode == 0, run.stderr
    written = yaml.safe_load((tmp_path / "work" / "out" / "v.yaml").read_text())
    assert written["hotel"] == sorted(OTHER_HOTELS.values())
    usage = _cli(tmp_path, "vocabulary", "a.csv", "--rows", "3")
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


# --------------------------------------------------------------------------- a vocabulary of one's own
INIT = "data_engineering.src.initialize_data"


def _other_group_vocabulary(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / "harbour.yaml"
    assert main([str(source), "--write", str(target)]) == 0
    return target


def test_the_other_hotel_group_shares_no_value_with_the_public_vocabulary() -> None:
    frame = make_bookings(2000, seed=6, renamed=OTHER_HOTEL_GROUP)
    public = schema.load_vocabulary(DEFAULT_FILE)
    for name, columns in VOCABULARIES.items():
        values = set().union(*(frame[column] for column in columns))
        assert values == set(OTHER_HOTEL_GROUP[name].values()), name
        assert not values & set(public[name]), name
    with pytest.raises(ValueError, match="unknown vocabularies rooms"):
        make_bookings(10, renamed={"rooms": {"A": "B"}})


def test_initialize_data_takes_the_hotel_groups_vocabulary(
    workspace: Path, tmp_path: Path, run_module
) -> None:
    source = bookings(
        tmp_path, "export.csv", 500, frame=make_bookings(500, seed=7, renamed=OTHER_HOTEL_GROUP)
    )
    vocabulary = _other_group_vocabulary(tmp_path, source)
    env = {"HOTEL_BOOKINGS_SOURCE": str(source), schema.VOCABULARY_ENV: str(vocabulary)}
    result = run_module(INIT, "v3", "csv", env=env)
    assert result.returncode == 0, result.stderr
    assert "500 rows in, 500 loaded, 0 rejected" in result.stdout
    assert f"ingest: vocabulary {vocabulary} (from HOTEL_VOCABULARY)" in result.stdout
    assert "warning" not in result.stderr
    processed = pd.read_csv(workspace / "data" / "processed" / "bookings_v3.csv", dtype=str)
    assert set(processed["hotel"]) == {"Harbour Inn", "Alpine Lodge"}
    # v1 merges the public dataset's "Undefined" meal into "SC"; another group's codes stay as written.
    assert "Not Set" in set(processed["meal"])
    snapshot = schema.load_vocabulary(workspace / "data" / "raw" / "vocabulary.yaml")
    assert snapshot == schema.load_vocabulary(vocabulary)
    report = json.loads((workspace / "reports" / "data_validation.json").read_text())
    assert report["vocabulary"] == f"{vocabulary} (from HOTEL_VOCABULARY)"
    assert report["rows_outside_vocabulary"] == 0


def test_the_raw_vocabulary_copy_changes_only_with_the_categories(
    workspace: Path, tmp_path: Path, run_module
) -> None:
    source = bookings(
        tmp_path, "export.csv", 200, frame=make_bookings(200, seed=8, renamed=OTHER_HOTEL_GROUP)
    )
    vocabulary = _other_group_vocabulary(tmp_path, source)
    env = {"HOTEL_BOOKINGS_SOURCE": str(source), schema.VOCABULARY_ENV: str(vocabulary)}
    assert run_module("data_engineering.src.ingest", env=env).returncode == 0
    copy = workspace / "data" / "raw" / "vocabulary.yaml"
    first = copy.stat().st_mtime_ns
    moved = tmp_path / "elsewhere" / "v.yaml"
    moved.parent.mkdir()
    moved.write_text("# another comment\n" + vocabulary.read_text())  # same categories
    again = run_module("data_engineering.src.ingest", env=env | {schema.VOCABULARY_ENV: str(moved)})
    assert "-> data/raw/vocabulary.yaml (unchanged, kept)" in again.stdout
    assert copy.stat().st_mtime_ns == first  # DVC sees nothing new: nothing reruns
    public = run_module("data_engineering.src.ingest", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert "(the default: the public dataset's) -> data/raw/vocabulary.yaml (updated)" in public.stdout
    assert schema.load_vocabulary(copy) == schema.load_vocabulary(DEFAULT_FILE)


def test_no_valid_row_stops_and_names_the_values_outside_the_vocabulary(
    workspace: Path, tmp_path: Path, run_module
) -> None:
    source = bookings(
        tmp_path, "export.csv", 300, frame=make_bookings(300, seed=9, renamed=OTHER_HOTEL_GROUP)
    )
    result = run_module(INIT, "v3", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("initialize-data: error: none of the 300 rows is valid, nothing was loaded")
    assert "300 of 300 rows hold values that are not in the vocabulary" in error
    assert "hotel 'Harbour Inn' (" in error
    assert "./cli.sh vocabulary EXPORT.csv --write vocabulary.yaml" in error
    # The counts per reason are printed; no file is written (the rejected file and the report
    # describe the data that is loaded, and nothing was).
    assert re.search(r"^\s+300  hotel: must be one of: ", result.stderr, re.MULTILINE)
    written = [p.relative_to(workspace) for p in workspace.rglob("*") if p.is_file()]
    assert [p for p in written if p.parts[0] in ("data", "reports")] == []


def test_a_few_unknown_values_are_loaded_around_with_a_warning(
    workspace: Path, tmp_path: Path, run_module
) -> None:
    frame = make_bookings(300, seed=10)
    frame.loc[[3, 4], "hotel"] = "Harbour Inn"
    frame.loc[4, "reserved_room_type"] = "DLX"
    result = run_module(
        INIT, "v3", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(bookings(tmp_path, frame=frame))}
    )
    assert result.returncode == 0, result.stderr
    assert "300 rows in, 298 loaded, 2 rejected" in result.stdout
    warning = result.stderr.strip().splitlines()[-1]
    assert warning.startswith(
        "initialize-data: warning: 2 of 300 rows hold values that are not in the vocabulary"
    )
    assert "hotel 'Harbour Inn' (2); room_type 'DLX' (1)." in warning


BAD_VOCABULARIES = {
    "not YAML": ("hotel: [City Hotel\n", "is not valid YAML at line 2, column 1: expected ',' or ']'"),
    "a vocabulary missing": ("hotel: [City Hotel]\n", "missing: meal, market_segment"),
    "an unquoted yes": ("{}", "hotel has True, which YAML read as bool, not text: quote it"),
    "a repeated value": ("{}", "hotel has empty or repeated values"),
}


@pytest.mark.parametrize("case", sorted(BAD_VOCABULARIES))
def test_a_bad_vocabulary_file_is_one_clear_line(tmp_path: Path, case: str) -> None:
    text, message = BAD_VOCABULARIES[case]
    if text == "{}":
        good = DEFAULT_FILE.read_text()
        hotels = "[Yes, City Hotel]" if case == "an unquoted yes" else "[City Hotel, City Hotel ]"
        text = good.replace("hotel: [City Hotel, Resort Hotel]", f"hotel: {hotels}")
    path = _write(tmp_path, "vocabulary.yaml", text.encode())
    with pytest.raises(schema.VocabularyFileError, match=re.escape(message)):
        schema.load_vocabulary(path)
    # From the command line: every command that runs Python stops before it, in one line.
    run = _cli(tmp_path, "vocabulary", "export.csv", env={schema.VOCABULARY_ENV: "vocabulary.yaml"})
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith(f"cli.sh: HOTEL_VOCABULARY: the vocabulary file {path}")
    assert message in run.stderr


def test_a_vocabulary_that_is_no_file_is_named(tmp_path: Path) -> None:
    run = _cli(tmp_path, "vocabulary", "export.csv", env={schema.VOCABULARY_ENV: "missing.yaml"})
    assert run.returncode == 1
    assert run.stderr == (
        f"cli.sh: HOTEL_VOCABULARY={tmp_path / 'missing.yaml'} is not a file (derive one from a "
        "bookings export: ./cli.sh vocabulary FILE --write PATH)\n"
    )
