"""Batch scoring over R2: a dataset in R2 (Parquet, CSV or JSONL) scored by a model (a custom model's version,
or a catalog model over a text column) and written back to R2 as the input's columns plus predictions.

`tables.py` reads and writes the three formats, `scorers.py` is how each kind of model scores a slice of rows,
`jobs.py` what a job and its chunks are, `keys.py` its object keys (input, output, parts), `service.py`
submitting and reporting jobs, `workers.py` the loop that claims chunks (a lease each), scores them into part
objects and composes the output, `routes.py` the v4 API.
The SQL behind jobs lives in storage/sql_scoring.py."""
