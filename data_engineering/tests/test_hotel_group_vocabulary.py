"""A hotel group's own vocabulary: derived from its export, taken by the loads, refused in one line
when it is broken."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from data_engineering.src import schema
from data_engineering.src.schema import VOCABULARIES
from data_engineering.src.schema import VOCABULARY_FILE as DEFAULT_FILE
from data_engineering.src.synthetic import OTHER_HOTEL_GROUP, make_bookings
from data_engineering.src.vocabulary import main
from data_engineering.tests.helpers import bookings_file, run_cli, write_file

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
    source = bookings_file(
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
    source = bookings_file(
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
    source = bookings_file(
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
        INIT, "v3", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(bookings_file(tmp_path, frame=frame))}
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
    path = write_file(tmp_path, "vocabulary.yaml", text.encode())
    with pytest.raises(schema.VocabularyFileError, match=re.escape(message)):
        schema.load_vocabulary(path)
    # From the command line: every command that runs Python stops before it, in one line.
    run = run_cli(tmp_path, "vocabulary", "export.csv", env={schema.VOCABULARY_ENV: "vocabulary.yaml"})
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith(f"cli.sh: HOTEL_VOCABULARY: the vocabulary file {path}")
    assert message in run.stderr


def test_a_vocabulary_that_is_no_file_is_named(tmp_path: Path) -> None:
    run = run_cli(tmp_path, "vocabulary", "export.csv", env={schema.VOCABULARY_ENV: "missing.yaml"})
    assert run.returncode == 1
    assert run.stderr == (
        f"cli.sh: HOTEL_VOCABULARY={tmp_path / 'missing.yaml'} is not a file (derive one from a "
        "bookings export: ./cli.sh vocabulary FILE --write PATH)\n"
    )
