"""Write and escape attempts against ``cotforge query``. ``{shard}``: a listed shard of the dataset;
``{data}``: its data/ folder; ``{outside}``: a file outside the dataset holding a secret; ``{stray}``:
an unlisted Parquet file under data/; ``{tmp}``: a writable scratch folder outside the dataset."""

WRITES = [
    "COPY (SELECT 1 AS idx) TO '{shard}' (FORMAT parquet)",
    "COPY (SELECT 1 AS idx) TO '{shard}' (FORMAT parquet, USE_TMP_FILE false)",
    "COPY (SELECT 1 AS idx) TO '{data}/main/train-00009-of-00009.parquet' (FORMAT parquet)",
    "COPY (SELECT * FROM main_train) TO '{tmp}/copy.csv'",
    "COPY main_train TO '{tmp}/copy2.csv'",
    "COPY (SELECT 1) TO '{data}' (FORMAT parquet, PARTITION_BY (1), OVERWRITE_OR_IGNORE)",
    "EXPORT DATABASE '{tmp}/export'",
    "EXPORT DATABASE '{data}/main' (FORMAT parquet)",
    "ATTACH '{tmp}/new.duckdb' AS w",
    "ATTACH '{data}/main/evil.duckdb' AS w; CREATE TABLE w.t AS SELECT 1",
    "ATTACH '{shard}' AS w",
    "INSTALL httpfs",
    "LOAD httpfs",
    "INSTALL '{tmp}/x.duckdb_extension'",
    "FORCE INSTALL json",
    "SET enable_external_access=true",
    "RESET enable_external_access",
    "SET lock_configuration=false",
    "RESET lock_configuration",
    "RESET ALL",
    "SET allowed_directories=['/']",
    "SET allowed_paths=['{outside}']",
    "SET temp_directory='{tmp}'",
    "SET profiling_output='{tmp}/profile.json'",
    "SET log_query_path='{tmp}/queries.log'",
    "PRAGMA enable_profiling='json'",
    "PRAGMA profiling_output='{tmp}/p.json'",
    "PRAGMA enable_checkpoint_on_shutdown",
    "CALL enable_logging(storage_path := '{tmp}/log')",
    "CALL enable_logging('QueryLog', storage := 'file', storage_config := {{'path': '{tmp}/logs'}})",
    "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE TABLE t AS SELECT 1; COPY t TO '{tmp}/t.csv'",
    "SELECT 1; COPY (SELECT 2) TO '{tmp}/second.csv'",
    "WITH x AS (SELECT 1 AS idx) SELECT * FROM x; COPY (SELECT 1) TO '{shard}'",
    "CHECKPOINT",
    "VACUUM",
    "DROP VIEW data; CREATE VIEW data AS SELECT * FROM read_parquet('{outside_parquet}')",
    "SELECT * FROM write_csv('{tmp}/w.csv')",
]

READS = [
    "SELECT * FROM read_csv('{outside}')",
    "SELECT * FROM read_csv_auto('{outside}', header=false)",
    "SELECT * FROM read_text('{outside}')",
    "SELECT * FROM read_blob('{outside}')",
    "SELECT * FROM read_json('{outside}')",
    "SELECT * FROM sniff_csv('{outside}')",
    "SELECT * FROM '{outside}'",
    "SELECT * FROM read_parquet('{outside_parquet}')",
    "SELECT * FROM read_parquet('{stray}')",
    "SELECT * FROM parquet_metadata('{shard}')",
    "SELECT * FROM parquet_schema('{stray}')",
    "SELECT * FROM glob('{data}/**')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_parquet('{data}/**/*.parquet')",
    "ATTACH '{outside}' AS r (READ_ONLY)",
    "COPY main_train FROM '{outside}'",
    "CREATE TABLE t AS SELECT 1; COPY t FROM '{outside}'",
    "WITH s AS (SELECT * FROM read_text('{outside}')) SELECT * FROM s",
    "SELECT * FROM query_table('{outside}')",
    "SELECT getenv('HOME')",
]


def corpus() -> list[str]:
    """Every attempt as written, under EXPLAIN ANALYZE, and after a harmless statement and a CTE."""
    out = []
    for sql in WRITES + READS:
        out.append(sql)
        out.append("EXPLAIN ANALYZE " + sql)
        out.append("EXPLAIN " + sql)
        out.append("SELECT 42; " + sql)
        out.append("WITH q AS (SELECT 1) " + sql if sql.startswith("SELECT") else sql + "; SELECT 1")
    return out
