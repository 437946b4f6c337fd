"""Stage ``transform``: validate ``data/raw/hotel_bookings.csv`` and write the processed CSV.

The same code path as ``./cli.sh initialize-data VERSION csv`` without the ingest step (DVC runs
that as its own stage); the version comes from params.yaml ``transform.version``.
"""

from __future__ import annotations

import sys

from data_engineering.src.ingest import NoValidRowsError, print_reasons
from data_engineering.src.initialize_data import TransformParams, print_outcome, run
from data_engineering.src.params import read_section
from data_engineering.src.schema import ColumnsError


def main() -> int:
    params = read_section("transform", TransformParams)
    try:
        summary = run(params.version, "csv", fetch=False)
    except ColumnsError as exc:
        print(f"transform: error: {exc}; nothing was written", file=sys.stderr)
        return 1
    except NoValidRowsError as exc:
        print_reasons(exc.reasons, sys.stderr)
        print(f"transform: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a file that does not parse (CsvFormatError), say
        print(f"transform: error: {exc}", file=sys.stderr)
        return 1
    print_outcome(summary, "transform")
    return 0


if __name__ == "__main__":
    sys.exit(main())
