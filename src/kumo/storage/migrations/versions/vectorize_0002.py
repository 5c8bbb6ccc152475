"""Vectorize on PostgreSQL: a vector count kept on the index row (queries choose HNSW or an exact scan
by it without counting), and the functions metadata filters and metadata indexes are written with.

`kumo_vectorize_string/number/boolean(metadata, path)` are a metadata index's view of a property: the
value at a dotted path if it has the index's type (strings cut to 64 bytes on a UTF-8 boundary), else
NULL. They are IMMUTABLE so they can be indexed. Nothing changes on SQLite.
"""

from alembic import op

revision = "vectorize_0002"
down_revision = "vectorize_0001"
branch_labels = None
depends_on = None

FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION kumo_truncate_utf8(s text, n int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN octet_length(s) <= n THEN s
    ELSE (SELECT left(s, k) FROM generate_series(n, 0, -1) AS k WHERE octet_length(left(s, k)) <= n LIMIT 1)
    END
$$""",
    """CREATE OR REPLACE FUNCTION kumo_vectorize_string(m jsonb, path text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(m #> path) = 'string' THEN kumo_truncate_utf8(m #>> path, 64) END
$$""",
    """CREATE OR REPLACE FUNCTION kumo_vectorize_number(m jsonb, path text[]) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(m #> path) = 'number' THEN (m #> path)::float8 END
$$""",
    """CREATE OR REPLACE FUNCTION kumo_vectorize_boolean(m jsonb, path text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(m #> path) = 'boolean' THEN (m #> path)::boolean END
$$""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE vectorize_indexes ADD COLUMN IF NOT EXISTS vector_count bigint NOT NULL DEFAULT 0")
    op.execute(
        "UPDATE vectorize_indexes i SET vector_count = (SELECT count(*) FROM vectorize_vectors v"
        " WHERE v.index_pk = i.pk)"
    )
    for statement in FUNCTIONS:
        op.execute(statement)
