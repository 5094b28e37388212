"""Result records (typed, schema-checked, written atomically), tables and comparisons; no jax."""

from genbench.results.compare import CompareRow, compare, format_compare
from genbench.results.record import (
    SCHEMA_VERSION,
    RunRecord,
    load_schema,
    new_run_id,
    validate_record,
)
from genbench.results.records import (
    canonical_json,
    check_writable,
    read_records,
    record_filename,
    run_key,
    write_record,
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
    "RunRecord",
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
]
