"""Models with many versions, written straight into the tables: registering
100,000 versions through the API would take minutes.

The rows are what registration writes (the version row with its read copy of the
params, and the typed param rows) for versions whose params are ``lr`` (200 values,
0.001 .. 0.2), ``epochs`` (7 values, 10 .. 16) and ``optimizer``, one second apart."""

from __future__ import annotations

import asyncpg

_VERSIONS = """
INSERT INTO model_versions (model_id, version, artifact_uri, param_list, created_by,
                            create_time, update_time)
SELECT $1, g, 's3://bench/' || g || '.pt',
       jsonb_build_array(
           jsonb_build_array('lr', 'float', (0.001 * (g % 200 + 1))::float8::text),
           jsonb_build_array('epochs', 'int', (10 + g % 7)::text),
           jsonb_build_array('optimizer', 'str', 'adam')),
       'bench', t, t
FROM generate_series($2::bigint, $3::bigint) AS g,
     LATERAL (SELECT now() - ($3 - g) * interval '1 second' AS t) AS times
"""
_PARAMS = """
INSERT INTO model_version_params (version_id, key, kind, num_value, text_value)
SELECT id, p ->> 0, p ->> 1,
       CASE WHEN p ->> 1 = 'str' THEN NULL ELSE (p ->> 2)::float8 END, p ->> 2
FROM model_versions, jsonb_array_elements(param_list) AS p
WHERE model_id = $1 AND version BETWEEN $2 AND $3
"""


async def add_versions(dsn: str, project: str, model: str, count: int) -> None:
    """Append ``count`` versions to an existing model (made through the API), then
    ANALYZE, as autovacuum would after such a load."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT m.id, m.version_count FROM models m JOIN projects p "
                "ON p.id = m.project_id WHERE p.name = $1 AND m.name = $2 FOR UPDATE",
                project,
                model,
            )
            first, last = row["version_count"] + 1, row["version_count"] + count
            for sql in (_VERSIONS, _PARAMS):
                await conn.execute(sql, row["id"], first, last)
            await conn.execute(
                "UPDATE models SET version_count = $2 WHERE id = $1", row["id"], last
            )
        await conn.execute("ANALYZE model_versions")
        await conn.execute("ANALYZE model_version_params")
    finally:
        await conn.close()
