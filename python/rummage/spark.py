"""Rummage's batch work on Spark: recommendations for every user, spread over a cluster's executors.

Users are split into partitions and each partition is handed to the ``rummage`` command line on its
executor (``rummage batch-recommend``), which loads the registered model and the event log itself and
applies the serving filters (no sold, hidden or own listings, nothing the user bought); its JSON lines
become rows. So the answers are exactly those of ``rummage batch-recommend`` for the same users, and Spark
only schedules, partitions and writes (Parquet by default).

Every executor needs the ``rummage`` binary and read access to the registry and the event log: a shared
file system, an S3 registry (``s3://…``) or a PostgreSQL log (``postgresql://…``).

    python -m rummage.spark recommend --registry REG --model NAME --log LOG --out recs.parquet \\
        [--users FILE] [--partitions 8] [--k 100] [--master local[2]]

Needs ``pyspark`` (``pip install 'rummage[spark]'``) and Java 17.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Iterable, Iterator, List, Optional, Sequence

__all__ = ["batch_recommend", "main"]


def _recommend_rows(command: Sequence[str], users: Optional[List[str]]) -> Iterator[tuple]:
    """Runs ``command`` (a ``rummage batch-recommend`` without --users/--out) for `users` (None: the
    command's own shard of all users) and yields (user, model_version, items, fallback) rows."""
    with tempfile.TemporaryDirectory(prefix="rummage-spark-") as work:
        out = os.path.join(work, "recommendations.jsonl")
        arguments = list(command) + ["--out", out, "--quiet"]
        if users is not None:
            if not users:
                return
            path = os.path.join(work, "users.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(users) + "\n")
            arguments += ["--users", path]
        finished = subprocess.run(arguments, capture_output=True, text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"{' '.join(arguments)} exited {finished.returncode}: {finished.stderr.strip()}")
        with open(out, encoding="utf-8") as f:
            for line in f:
                answer = json.loads(line)
                items = [(entry["item"], float(entry["score"])) for entry in answer["items"]]
                yield answer["user"], int(answer["model_version"]), items, bool(answer.get("fallback", False))


def _schema():
    from pyspark.sql.types import (ArrayType, BooleanType, DoubleType, LongType, StringType, StructField, StructType)
    item = StructType([StructField("item", StringType(), False), StructField("score", DoubleType(), False)])
    return StructType([StructField("user", StringType(), False), StructField("model_version", LongType(), False),
                       StructField("items", ArrayType(item, False), False), StructField("fallback", BooleanType(), False)])


def batch_recommend(spark, *, registry: str, model: str, log: str, users: Optional[Iterable[str]] = None,
                    partitions: int = 8, k: int = 100, version: str = "champion", method: str = "exact",
                    rummage: str = "rummage"):
    """A DataFrame (user, model_version, items: [(item, score)], fallback) with `model`'s top-`k` listings
    for `users`, or for every user the model knows when `users` is None (then partition i runs
    ``rummage batch-recommend --shard i/partitions``). The work happens on the executors when the
    DataFrame is written or collected."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    command = [rummage, "batch-recommend", "--registry", registry, "--model", model, "--version", version,
               "--log", log, "--k", str(k), "--method", method]
    context = spark.sparkContext
    if users is None:
        shards = context.parallelize(range(partitions), partitions)
        rows = shards.mapPartitions(lambda shard: (row for index in shard for row in _recommend_rows(
            command + ["--shard", f"{index}/{partitions}"], None)))
    else:
        rows = context.parallelize(list(users), partitions).mapPartitions(lambda part: _recommend_rows(command, list(part)))
    return spark.createDataFrame(rows, _schema())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rummage.spark", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    recommend = commands.add_parser("recommend", help="top-k listings for every user (or --users), written as Parquet")
    recommend.add_argument("--registry", required=True, help="registry directory or s3:// URI, readable by every executor")
    recommend.add_argument("--model", required=True, help="registered model name")
    recommend.add_argument("--version", default="champion", help="version number or alias (default: champion)")
    recommend.add_argument("--log", required=True, help="event log: a SQLite file or a postgresql:// URI")
    recommend.add_argument("--users", help="file with one user id per line (default: every user the model knows)")
    recommend.add_argument("--out", required=True, help="output directory")
    recommend.add_argument("--format", default="parquet", choices=["parquet", "json"], help="output format (default: parquet)")
    recommend.add_argument("--partitions", type=int, default=8, help="Spark partitions, each one rummage process (default: 8)")
    recommend.add_argument("--k", type=int, default=100, help="recommendations per user (default: 100)")
    recommend.add_argument("--method", default="exact", choices=["exact", "ann"], help="as rummage batch-recommend --method")
    recommend.add_argument("--rummage", default=os.environ.get("RUMMAGE_BIN", "rummage"), help="the rummage binary on the executors")
    recommend.add_argument("--master", help="Spark master (default: Spark's own, e.g. from spark-submit)")
    arguments = parser.parse_args(argv)

    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName("rummage batch-recommend")
    if arguments.master:
        builder = builder.master(arguments.master)
    spark = builder.getOrCreate()
    try:
        users = None
        if arguments.users:
            with open(arguments.users, encoding="utf-8") as f:
                users = [line.strip() for line in f if line.strip()]
        frame = batch_recommend(spark, registry=arguments.registry, model=arguments.model, log=arguments.log, users=users,
                                partitions=arguments.partitions, k=arguments.k, version=arguments.version,
                                method=arguments.method, rummage=arguments.rummage)
        getattr(frame.write.mode("overwrite"), arguments.format)(arguments.out)
        written = spark.read.format(arguments.format).load(arguments.out).count()
        print(f"wrote recommendations for {written} users to {arguments.out} ({arguments.format}, {arguments.partitions} partitions)",
              file=sys.stderr)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
