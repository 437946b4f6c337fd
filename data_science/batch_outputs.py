"""A file of bookings scored a chunk at a time: what ``predict-batch`` writes, whichever engine scores.

The default engine (``predict_batch``) and Spark's workers (``spark_batch``) share these pieces,
so the two write the same rows, refusals and reasons. They live below both: the command module
dispatches to Spark, and Spark must not import the command back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_engineering.src.files.records import RawChunk, as_text
from data_engineering.src.files.writing import CsvSink, open_sink
from data_engineering.src.schema import AS_OF, COLUMNS_BY_NAME
from data_engineering.src.validate import LINE_COLUMN, REASONS_COLUMN
from data_engineering.src.vocabulary import OutsideVocabulary
from data_science.answers import Answers, Screened
from data_science.model import CancellationModel

OUTPUTS = (AS_OF, "cancel_probability", "will_cancel")  # replaced if the input already had them


@dataclass
class Outcome:
    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    flagged: int = 0
    probability_sum: float = 0.0
    outside: OutsideVocabulary = field(default_factory=OutsideVocabulary)  # values the vocabulary lacks


def rejected_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejected.csv")


def chunk_bookings(chunk: RawChunk) -> dict[str, pa.ChunkedArray]:
    """One chunk's well-formed rows as the model reads them: its spec columns, as text."""
    return {name: chunk.table[name] for name in COLUMNS_BY_NAME if name in chunk.table.column_names}


def answer_chunk(chunk: RawChunk, model: CancellationModel, as_of: np.datetime64 | None = None) -> Answers:
    """The model's answers to one chunk's well-formed rows."""
    return model.answer(chunk_bookings(chunk), as_of=as_of)


def rejected_rows(chunk: RawChunk, columns: list[str], answers: Answers | Screened) -> pa.Table:
    """The chunk's refused rows and misaligned lines, in line order: their text and every reason."""
    lines = np.concatenate([chunk.lines[answers.rejected], [m.line for m in chunk.misaligned]]).astype(
        np.int64
    )
    reasons = answers.refusals() + [m.reason for m in chunk.misaligned]
    order = np.argsort(lines, kind="stable")
    taken = pa.array(answers.rejected, pa.int64())
    rejected: dict[str, pa.Array] = {LINE_COLUMN: pa.array(lines[order], pa.int64())}
    for name in columns:
        values = pa.concat_arrays(
            [
                as_text(chunk.table[name]).take(taken),
                pa.array([m.fields[name] for m in chunk.misaligned], pa.string()),
            ]
        )
        rejected[name] = values.take(pa.array(order, pa.int64()))
    rejected[REASONS_COLUMN] = pa.array([reasons[i] for i in order], pa.string())
    return pa.table(rejected)


def score_chunk(
    chunk: RawChunk,
    columns: list[str],
    model: CancellationModel,
    outside: OutsideVocabulary | None = None,
    *,
    as_of: np.datetime64 | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(scored rows, rejected rows) of one chunk; the input text passes through as it was."""
    answers = answer_chunk(chunk, model, as_of)
    if outside is not None:
        outside.add(answers.problems)
    accepted = pa.array(answers.accepted, pa.int64())
    scored = {name: as_text(chunk.table[name]).take(accepted) for name in columns}
    scored[AS_OF] = pa.array(answers.as_of, pa.date32())
    scored["cancel_probability"] = pa.array(answers.probability, pa.float64())
    scored["will_cancel"] = pa.array(answers.will_cancel.astype(np.int64), pa.int64())
    return pa.table(scored), rejected_rows(chunk, columns, answers)


class Outputs:
    """OUTPUT (CSV, or Parquet by its extension) and ``OUTPUT.rejected.csv``, written a table at a
    time and committed together (each renamed into place; no rejected file when none was)."""

    def __init__(self, output_path: Path, columns: list[str]) -> None:
        text = [(name, pa.string()) for name in columns]
        self.scored_schema = pa.schema(
            [*text, (AS_OF, pa.date32()), ("cancel_probability", pa.float64()), ("will_cancel", pa.int64())]
        )
        self.rejected_schema = pa.schema([(LINE_COLUMN, pa.int64()), *text, (REASONS_COLUMN, pa.string())])
        self.path = output_path
        self.scored = open_sink(output_path, self.scored_schema)
        self.rejected = CsvSink(rejected_path(output_path), self.rejected_schema)
        self.outcome = Outcome()

    def write(self, scored: pa.Table, rejected: pa.Table) -> None:
        self.scored.write(scored)
        self.rejected.write(rejected)
        self.outcome.flagged += int(scored["will_cancel"].to_numpy().sum())
        self.outcome.probability_sum += float(scored["cancel_probability"].to_numpy().sum())

    def abort(self) -> None:
        self.scored.abort()
        self.rejected.abort()

    def commit(self) -> Outcome:
        outcome = self.outcome
        self.scored.commit()
        outcome.scored, outcome.rejected = self.scored.rows, self.rejected.rows
        outcome.rows_in = outcome.scored + outcome.rejected
        if outcome.rejected:
            self.rejected.commit()
        else:
            self.rejected.abort()
            rejected_path(self.path).unlink(missing_ok=True)  # no stale rejects from an earlier run
        return outcome
