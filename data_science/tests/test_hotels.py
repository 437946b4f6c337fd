"""The capacity file: the committed one, the full format, HOTEL_CAPACITY_FILE, and one clear line
for every way a file a person edits can be wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_engineering.src import schema
from data_engineering.src.paths import REPO_ROOT
from data_science import hotels
from data_science.hotels import Hotel, HotelsFileError, load_hotels

EXAMPLE = """\
walk_cost: 300
empty_room_cost: 100
hotels:
  City Hotel:
    capacity: 226
  Resort Hotel:
    capacity: 187
    walk_cost: 450.5
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_committed_file_gives_costs_and_no_capacity() -> None:
    """It lists no hotel, so it suits any vocabulary; every hotel gets its costs and no capacity."""
    config = load_hotels(REPO_ROOT / "data_engineering" / "hotels.yaml")
    assert config.hotels == {}
    for name in schema.VOCABULARY["hotel"]:
        assert config.hotel(name).capacity is None
    assert config.walk_cost > 0
    assert config.empty_room_cost > 0


def test_a_hotel_takes_the_files_costs_unless_it_has_its_own(tmp_path: Path) -> None:
    config = load_hotels(_write(tmp_path, EXAMPLE))
    assert config.hotel("City Hotel") == Hotel(capacity=226, walk_cost=300, empty_room_cost=100)
    assert config.hotel("Resort Hotel") == Hotel(capacity=187, walk_cost=450.5, empty_room_cost=100)


def test_the_setting_names_the_file_from_the_repository_root(
    settings_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert hotels.capacity_file() == REPO_ROOT / "data_engineering" / "hotels.yaml"
    path = _write(tmp_path, EXAMPLE)
    monkeypatch.setenv("HOTEL_CAPACITY_FILE", str(path))
    assert load_hotels().hotel("City Hotel").capacity == 226
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOTEL_CAPACITY_FILE", "configs/hotels.yaml")
    assert hotels.capacity_file() == REPO_ROOT / "configs" / "hotels.yaml"


def test_a_hotel_the_vocabulary_does_not_list_is_refused_naming_it_and_the_vocabulary(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, EXAMPLE.replace("Resort Hotel", "Resort Hotle"))
    with pytest.raises(HotelsFileError) as caught:
        load_hotels(path)
    assert str(caught.value) == (
        f"the capacity file {path}: hotels → Resort Hotle: 'Resort Hotle' is not a hotel of the "
        f"vocabulary in use, {schema.vocabulary_in_use()}, which lists: City Hotel, Resort Hotel"
    )
    assert "data_engineering/vocabulary.yaml" in str(caught.value)


BAD_FILES = {
    "zero capacity": (
        EXAMPLE.replace("capacity: 226", "capacity: 0"),
        "hotels → City Hotel → capacity: input should be greater than 0 (got 0)",
    ),
    "negative capacity": (
        EXAMPLE.replace("capacity: 187", "capacity: -3"),
        "hotels → Resort Hotel → capacity: input should be greater than 0 (got -3)",
    ),
    "capacity not whole": (
        EXAMPLE.replace("capacity: 226", "capacity: 226.5"),
        "hotels → City Hotel → capacity: input should be a valid integer (got 226.5)",
    ),
    "capacity as text": (
        EXAMPLE.replace("capacity: 226", "capacity: '226'"),
        "hotels → City Hotel → capacity: input should be a valid integer (got '226')",
    ),
    "zero cost": (
        EXAMPLE.replace("walk_cost: 300", "walk_cost: 0"),
        "walk_cost: input should be greater than 0 (got 0)",
    ),
    "negative hotel cost": (
        EXAMPLE.replace("walk_cost: 450.5", "empty_room_cost: -1"),
        "hotels → Resort Hotel → empty_room_cost: input should be greater than 0 (got -1)",
    ),
    "a cost missing": (
        EXAMPLE.replace("empty_room_cost: 100\n", ""),
        "empty_room_cost: field required",
    ),
    "unknown key": (
        EXAMPLE + "currency: EUR\n",
        "currency: unknown key (expected one of: walk_cost, empty_room_cost, hotels)",
    ),
    "unknown hotel key": (
        EXAMPLE.replace("capacity: 226", "rooms: 226"),
        "hotels → City Hotel → rooms: unknown key (expected one of: capacity, walk_cost, empty_room_cost)",
    ),
    "not YAML": (EXAMPLE.replace("hotels:", "hotels: [", 1), "is not valid YAML at line"),
    "not a mapping": ("- City Hotel\n", "must map walk_cost, empty_room_cost and hotels to their values"),
    "empty": ("", "must map walk_cost, empty_room_cost and hotels to their values"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_file_and_the_field(tmp_path: Path, case: str) -> None:
    text, message = BAD_FILES[case]
    path = _write(tmp_path, text)
    with pytest.raises(HotelsFileError, match=re.escape(message)) as caught:
        load_hotels(path)
    assert str(caught.value).startswith(f"the capacity file {path}")
    assert len(str(caught.value).splitlines()) == 1


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(HotelsFileError, match=re.escape(f"cannot read the capacity file {path}: ")):
        load_hotels(path)


def test_hotels_listed_with_nothing_under_them_have_no_terms_of_their_own(tmp_path: Path) -> None:
    config = load_hotels(_write(tmp_path, "walk_cost: 2\nempty_room_cost: 1\nhotels:\n  City Hotel:\n"))
    assert list(config.hotels) == ["City Hotel"]
    assert config.hotel("City Hotel") == Hotel(capacity=None, walk_cost=2, empty_room_cost=1)
    assert load_hotels(_write(tmp_path, "walk_cost: 2\nempty_room_cost: 1\nhotels:\n")).hotels == {}
