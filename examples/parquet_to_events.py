"""Parquet → Rummage events (JSON lines), with DuckDB: the recipe in docs/bring-your-own-data.md.

Reads a marketplace's exports and writes one event per line, in time order, for `rummage ingest`:
  LISTINGS.parquet  item_id, seller_id, created_ms, price, and one column per schema listing field
  ACTIONS.parquet   action_id, user_id, item_id, action (view|like|save|add_to_bag|purchase), ts_ms
Timestamps in the exports are Unix milliseconds; Rummage takes Unix seconds (integer division by 1000).

Usage: python parquet_to_events.py LISTINGS.parquet ACTIONS.parquet OUT.jsonl FIELD [FIELD …]
"""
import sys

import duckdb


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    listings, actions, out, fields = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    # The listing's schema fields become the event's attributes (strings, as the event schema requires).
    attributes = ", ".join(f"'{f}': CAST(\"{f}\" AS VARCHAR)" for f in fields)
    duckdb.sql(f"""
        COPY (
          SELECT * EXCLUDE (phase) FROM (
            SELECT 'created-' || item_id AS event_id, 'listing_created' AS type, created_ms // 1000 AS timestamp,
                   NULL AS "user", seller_id AS seller, item_id AS item, CAST(price AS DOUBLE) AS price,
                   {{{attributes}}} AS attributes, 0 AS phase
            FROM read_parquet('{listings}')
            UNION ALL BY NAME
            SELECT action_id AS event_id, action AS type, ts_ms // 1000 AS timestamp, user_id AS "user",
                   item_id AS item, 1 AS phase
            FROM read_parquet('{actions}')
          ) ORDER BY timestamp, phase, event_id
        ) TO '{out}' (FORMAT JSON)
    """)


if __name__ == "__main__":
    main()
