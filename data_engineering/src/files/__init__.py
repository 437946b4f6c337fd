"""Booking files: raw text in (streamed, bounded), CSV or Parquet out, always atomically.

``RawReader`` reads a CSV (plain or gzip) a chunk at a time, so memory does not grow with the
file, and every step takes time linear in its size:

- the header first: a file with a wrong or missing column is refused before any row is read;
- what the file is, told from its bytes and said in one line: the separator (``,``, ``;`` or tab,
  the one that splits the header), a decimal comma in the numeric columns of a ``;`` file
  (``120,5`` is read as ``120.5``), the encoding (UTF-8, a BOM skipped, unless the first text
  that is not ASCII is not UTF-8: then Windows-1252, as European spreadsheets save), gzip;
- the limits of ``CsvSettings`` (columns, line and field length, how much a gzip file may expand):
  a file beyond one is refused with a one-line ``CsvFormatError`` naming it and the line;
- each chunk is parsed by pyarrow with every field as text, the next chunk on a second thread
  while the caller works on the current one. Every row keeps its line number (the header is line
  1). A line with too few or too many fields, or that is no CSV record of its own (an unbalanced
  quote, a carriage return inside it), is kept aside with its reason instead of being dropped or
  taking other lines with it; bytes that are not UTF-8 become U+FFFD; a line without any value
  (blank, or only separators) is not a booking and is counted, not returned.

Writing: every CSV the platform writes goes through ``CsvSink`` or ``write_csv``, which
neutralise text a spreadsheet would run as a formula (``neutralise_formulas``), and through
``AtomicFile``: a temporary file beside the output, locked while its writer lives, renamed into
place when complete. Temporary files an interrupted writer left are removed by the next writer of

The modules, lowest first: ``source`` (a file's bytes, gunzipped, bounded), ``records`` (whole
lines parsed into text columns, lines that are no record set aside), ``reader`` (a CSV as chunks:
header, separator, encoding, limits), ``parquet`` (the same from a Parquet file), ``atomic``
(temporary file, lock, rename) and ``writing`` (formula-safe CSV and Parquet sinks; the processed
files read back with their types).
"""
