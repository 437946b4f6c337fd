"""Reading a YAML file a person edits (the vocabulary, the hotels' capacities), with one-line errors."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml(path: Path, what: str, error: type[Exception]) -> object:
    """The document of ``path``, or ``error`` with one line naming ``what`` (such as "the vocabulary
    file"), the file, and where and why it cannot be read: missing, not UTF-8, not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        # One line: where and what (PyYAML's own text quotes the line over several).
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{what} {path} is not valid YAML{where}: {problem}") from exc
