"""Is a saved booster safe to hand to XGBoost? Checked before XGBoost reads it.

XGBoost parses a model file in native code: a ``booster.ubj`` cut short does not raise, it
crashes the whole process (SIGSEGV), and with it every API worker that follows the registry. So:

- ``record`` (called by ``CancellationModel.save``) writes ``booster.ubj.sha256`` beside the
  booster, in ``sha256sum``'s format (``sha256sum -c booster.ubj.sha256`` checks it by hand);
- ``booster_problem`` (called by ``CancellationModel.load`` before XGBoost opens the file) says
  what is wrong when the file differs from that record, so the caller refuses it with a reason;
- a booster saved before such records existed has none: it is loaded once in a child process
  first, and a crash there becomes the reason instead of the caller's death.

Only the standard library here, and the project's standard-library environment module (the
registered model's code imports this module); XGBoost is imported by the child alone.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

from data_engineering.src.environment import child_environment, prepended_search_path

SUFFIX = ".sha256"
CHILD_TIMEOUT_SECONDS = 120.0


def checksum_file(booster: Path) -> Path:
    return booster.with_name(booster.name + SUFFIX)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(booster: Path) -> None:
    """Write the booster's sha256 beside it (``sha256sum`` format)."""
    checksum_file(booster).write_text(f"{sha256(booster)}  {booster.name}\n", encoding="ascii")


def booster_problem(booster: Path) -> str | None:
    """Why XGBoost must not read ``booster``, or None when it may."""
    if not booster.is_file():
        return f"{booster.name} is missing"
    recorded = checksum_file(booster)
    if not recorded.exists():
        return _load_in_child(booster)
    expected = recorded.read_text(encoding="ascii", errors="replace").split(maxsplit=1)[:1]
    if expected != [sha256(booster)]:
        return (
            f"{booster.name} is damaged ({booster.stat().st_size:,} bytes, and its sha256 is not the "
            f"one {recorded.name} recorded when the model was saved)"
        )
    return None


def _load_in_child(booster: Path) -> str | None:
    """Load an unrecorded booster in a child process: its crash is reported, not suffered."""
    # The package root on the child's path: inside a served MLflow model this code comes from the
    # model's code_paths, which only the parent has on sys.path.
    root = str(Path(__file__).resolve().parents[1])
    try:
        child = subprocess.run(
            [sys.executable, "-m", "data_science.integrity", str(booster)],
            env=child_environment(PYTHONPATH=prepended_search_path("PYTHONPATH", root)),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{booster.name} did not load within {CHILD_TIMEOUT_SECONDS:g} s in a child process"
    if child.returncode == 0:
        return None
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        return f"{booster.name} crashed XGBoost ({name}) when loaded in a child process: the file is damaged"
    lines = child.stderr.strip().splitlines()
    return f"{booster.name} does not load: {lines[-1] if lines else f'exit {child.returncode}'}"


def main(argv: list[str] | None = None) -> int:
    """The child: load one booster file; exit 0 when XGBoost reads it."""
    (path,) = argv if argv is not None else sys.argv[1:]
    import xgboost as xgb

    try:
        xgb.Booster().load_model(path)
    except xgb.core.XGBoostError as exc:
        print(str(exc).strip().splitlines()[0] if str(exc).strip() else "XGBoostError", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
