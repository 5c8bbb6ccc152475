"""Datasets as Arrow tables: reading an input file (Parquet, CSV, JSONL) and writing the parts of an output.

Parts of CSV and JSONL outputs are byte ranges of the final file (no header: the composer writes it once), so
composing them is concatenation; Parquet parts are whole Parquet files whose row groups the composer copies
into one file.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from kumo.errors import InvalidRequest

FORMATS = ("parquet", "csv", "jsonl")
EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class UnreadableDataset(InvalidRequest):
    code = 10041


def format_of(key: str, declared: Any, what: str) -> str:
    """The dataset format `declared` (refused unless known), else the one the key's extension says."""
    if declared is not None:
        if declared not in FORMATS:
            raise InvalidRequest(f"{what}_format {declared!r}: use one of {', '.join(FORMATS)}", code=10040)
        return declared
    fmt = EXTENSIONS.get(PurePosixPath(key).suffix.lower())
    if fmt is None:
        raise InvalidRequest(f"cannot tell the format of {key!r} from its extension ({', '.join(EXTENSIONS)}); "
                             f"send \"{what}_format\": one of {', '.join(FORMATS)}", code=10040)
    return fmt


def read(path: Path, fmt: str) -> pa.Table:
    """The whole file as one table; a file that is not of its format is a clear 400."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(path)
        else:
            import pyarrow.json as pjson

            table = pjson.read_json(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        # the message names the server's temporary file: the caller knows the input by its R2 key
        reason = str(exc).replace(str(path), "the input")
        raise UnreadableDataset(f"the input is not readable as {fmt.upper()}: {reason}") from None
    repeated = sorted({name for name in table.schema.names if table.schema.names.count(name) > 1})
    if repeated:  # a column is named to be scored or kept: a name must say which one
        raise UnreadableDataset(f"the input names more than one column {', '.join(map(repr, repeated))}; "
                                "column names must be unique")
    return table


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def check_writable(schema: pa.Schema, fmt: str) -> None:
    """CSV takes flat values (lists are written as JSON text); nested input columns need Parquet or JSONL."""
    if fmt != "csv":
        return
    for field in schema:
        if pa.types.is_nested(field.type) and not _is_list(field.type):
            raise InvalidRequest(f"column {field.name!r} holds {field.type}, which CSV cannot hold; write the "
                                 "output as parquet or jsonl", code=10040)


def _csv_ready(table: pa.Table) -> pa.Table:
    """CSV has no lists: list columns (embeddings) are written as JSON arrays in a text column."""
    import json

    columns = []
    for column in table.columns:
        if _is_list(column.type):
            column = pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def csv_header(names: list[str]) -> bytes:
    """The header line, quoted as the parts' values are."""
    import pyarrow.csv as pcsv

    out = io.BytesIO()
    empty = pa.table({name: pa.array([], pa.null()) for name in names})
    pcsv.write_csv(empty, out, pcsv.WriteOptions(include_header=True))
    return out.getvalue()


def write_part(table: pa.Table, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, out)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(_csv_ready(table), out, pcsv.WriteOptions(include_header=False))
    else:
        import orjson  # JSON of numpy-free Python values, fast; non-finite floats become null as in JSON

        for row in table.to_pylist():
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS,
                                  default=str))  # decimals and the like as text
    return out.getvalue()
