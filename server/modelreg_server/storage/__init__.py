"""PostgreSQL storage: tables, queries, the embedded cluster and migrations."""
