"""Result records (schema, atomic writes), tables and comparisons; no jax import."""

from genbench.results.compare import CompareRow, compare, format_compare
from genbench.results.records import (
    SCHEMA_VERSION,
    canonical_json,
    check_writable,
    load_schema,
    new_run_id,
    read_records,
    record_filename,
    run_key,
    validate_record,
    write_record,
    write_text,
)
from genbench.results.table import (
    Row,
    Stat,
    aggregate,
    column_name,
    default_columns,
    format_table,
    to_csv,
    to_latex,
    to_markdown,
)

__all__ = [
    "SCHEMA_VERSION",
    "CompareRow",
    "Row",
    "Stat",
    "aggregate",
    "canonical_json",
    "check_writable",
    "column_name",
    "compare",
    "default_columns",
    "format_compare",
    "format_table",
    "load_schema",
    "new_run_id",
    "read_records",
    "record_filename",
    "run_key",
    "to_csv",
    "to_latex",
    "to_markdown",
    "validate_record",
    "write_record",
    "write_text",
]
