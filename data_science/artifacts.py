"""Writing the pipeline's outputs so that a rerun on the same data reproduces them byte for byte.

Every file a stage writes is hashed into ``dvc.lock`` (and the reports are in git), so anything
in them that changes without the data or the code changing leaves a fresh clone's ``git status``
dirty after the quick start. Two causes were measured (two full runs of ``dvc repro`` on the
same data, then the same stage with numpy's AVX-512 kernels switched off):

- numpy picks its ``exp``/``log`` kernels by CPU (AVX-512 or AVX2): the same margins give
  calibrated probabilities that differ in their last bit (up to 2.2e-16) on another machine, and
  so does a threshold chosen among them. Numbers are therefore written with
  ``SIGNIFICANT_DIGITS`` significant digits, far below anything a report or a decision reads and
  far above that noise;
- wall-clock durations, timestamps and absolute paths: they are printed, or recorded by MLflow,
  and never written into an output.

Figures carry no metadata (matplotlib writes its version otherwise), so the same pixels give
the same file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_engineering.src.files.atomic import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# 1 bit of noise in a probability is ~1e-16; 8 digits leave a 1e-8 chance per number of the
# noise straddling a rounding boundary, and keep far more than the reports' 4 decimals.
SIGNIFICANT_DIGITS = 8
CSV_FLOAT_FORMAT = f"%.{SIGNIFICANT_DIGITS}g"


def rounded(value: Any) -> Any:
    """``value`` with every float (in nested dicts, lists and tuples) to SIGNIFICANT_DIGITS digits;
    exactly what ``CSV_FLOAT_FORMAT`` writes, so a number read back from either compares equal."""
    if isinstance(value, float):
        return float(CSV_FLOAT_FORMAT % value) if math.isfinite(value) else value
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def json_text(value: Any, *, indent: int = 2, sort_keys: bool = False) -> str:
    return json.dumps(rounded(value), indent=indent, sort_keys=sort_keys) + "\n"


def write_json(path: Path, value: Any) -> None:
    """A report (JSON, numbers rounded), written atomically."""
    write_atomic(path, json_text(value).encode())


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """A table of predictions or plot data, numbers rounded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format=CSV_FLOAT_FORMAT)


def save_figure(fig: Figure, path: Path, *, dpi: int = 110) -> Path:
    """A PNG without metadata (no software version): the same pixels give the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    return path
