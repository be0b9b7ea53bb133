"""Rummage's batch work on Spark: recommendations and embeddings for every user, spread over a cluster's
executors.

Users are split into partitions and each partition is handed to the ``rummage`` command line on its
executor: ``rummage batch-recommend``, which loads the registered model and the event log itself and
applies the serving filters (no sold, hidden or own listings, nothing the user bought), or ``rummage
batch-embed`` (the version's stored user or listing vectors); their JSON lines become rows. So the answers
are those of the command line for the same users, and Spark only schedules, partitions and writes
(Parquet by default).

Every executor needs the ``rummage`` binary and read access to the registry and the event log: a shared
file system, an S3 registry (``s3://…``) or a PostgreSQL log (``postgresql://…``).

    python -m rummage.spark recommend --registry REG --model NAME --log LOG --out recs.parquet \\
        [--users FILE] [--partitions 8] [--k 100] [--master local[2]]
    python -m rummage.spark embed --registry REG --model NAME --out users.parquet [--items] [--users FILE]

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

__all__ = ["batch_recommend", "batch_embed", "main"]


def _answers(command: Sequence[str], users: Optional[List[str]]) -> Iterator[dict]:
    """Runs ``command`` (a ``rummage batch-recommend`` or ``batch-embed`` without --users/--out) for
    `users` (None: the command's own shard of all users) and yields its JSON lines, parsed."""
    with tempfile.TemporaryDirectory(prefix="rummage-spark-") as work:
        out = os.path.join(work, "answers.jsonl")
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
                yield json.loads(line)


def _recommendation_row(answer: dict) -> tuple:
    items = [(entry["item"], float(entry["score"])) for entry in answer["items"]]
    return answer["user"], int(answer["model_version"]), items, bool(answer.get("fallback", False))


def _recommendation_schema():
    from pyspark.sql.types import (ArrayType, BooleanType, DoubleType, LongType, StringType, StructField, StructType)
    item = StructType([StructField("item", StringType(), False), StructField("score", DoubleType(), False)])
    return StructType([StructField("user", StringType(), False), StructField("model_version", LongType(), False),
                       StructField("items", ArrayType(item, False), False), StructField("fallback", BooleanType(), False)])


def _embedding_schema(key: str):
    from pyspark.sql.types import ArrayType, FloatType, LongType, StringType, StructField, StructType
    return StructType([StructField(key, StringType(), False), StructField("model_version", LongType(), False),
                       StructField("embedding", ArrayType(FloatType(), False), False)])


def _partitioned(spark, command: List[str], users: Optional[Iterable[str]], partitions: int, row):
    """An RDD of `row(answer)` for every answer of `command` run once per partition: partition i as
    ``--shard i/partitions`` of all users when `users` is None, else on the partition's own users."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    context = spark.sparkContext
    if users is None:
        return context.parallelize(range(partitions), partitions).mapPartitions(lambda shard: (
            row(answer) for index in shard for answer in _answers(command + ["--shard", f"{index}/{partitions}"], None)))
    return context.parallelize(list(users), partitions).mapPartitions(lambda part: (row(a) for a in _answers(command, list(part))))


def batch_recommend(spark, *, registry: str, model: str, log: str, users: Optional[Iterable[str]] = None,
                    partitions: int = 8, k: int = 100, version: str = "champion", method: str = "exact",
                    rummage: str = "rummage"):
    """A DataFrame (user, model_version, items: [(item, score)], fallback) with `model`'s top-`k` listings
    for `users`, or for every user the model knows when `users` is None (then partition i runs
    ``rummage batch-recommend --shard i/partitions``). The work happens on the executors when the
    DataFrame is written or collected."""
    command = [rummage, "batch-recommend", "--registry", registry, "--model", model, "--version", version,
               "--log", log, "--k", str(k), "--method", method]
    return spark.createDataFrame(_partitioned(spark, command, users, partitions, _recommendation_row), _recommendation_schema())


def batch_embed(spark, *, registry: str, model: str, users: Optional[Iterable[str]] = None, items: bool = False,
                partitions: int = 8, version: str = "champion", rummage: str = "rummage"):
    """A DataFrame (user or item, model_version, embedding) of the version's stored vectors: users' (or,
    with `items`, listings'), for the given ids or all of them (partition i running ``rummage batch-embed
    --shard i/partitions``). Ids the version does not know are left out."""
    key = "item" if items else "user"
    command = [rummage, "batch-embed", "--registry", registry, "--model", model, "--version", version] + (["--items"] if items else [])
    rows = _partitioned(spark, command, users, partitions, lambda a: (a[key], int(a["model_version"]), [float(x) for x in a["embedding"]]))
    return spark.createDataFrame(rows, _embedding_schema(key))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rummage.spark", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    recommend = commands.add_parser("recommend", help="top-k listings for every user (or --users), written as Parquet")
    embed = commands.add_parser("embed", help="the version's user (or --items: listing) embeddings, written as Parquet")
    for command in (recommend, embed):
        command.add_argument("--registry", required=True, help="registry directory, readable by every executor")
        command.add_argument("--model", required=True, help="registered model name")
        command.add_argument("--version", default="champion", help="version number or alias (default: champion)")
        command.add_argument("--users", help="file with one user id per line (default: every one the version knows)")
        command.add_argument("--out", required=True, help="output directory")
        command.add_argument("--format", default="parquet", choices=["parquet", "json"], help="output format (default: parquet)")
        command.add_argument("--partitions", type=int, default=8, help="Spark partitions, each one rummage process (default: 8)")
        command.add_argument("--rummage", default=os.environ.get("RUMMAGE_BIN", "rummage"), help="the rummage binary on the executors")
        command.add_argument("--master", help="Spark master (default: Spark's own, e.g. from spark-submit)")
    recommend.add_argument("--log", required=True, help="event log: a SQLite file or a postgresql:// URI")
    recommend.add_argument("--k", type=int, default=100, help="recommendations per user (default: 100)")
    recommend.add_argument("--method", default="exact", choices=["exact", "ann"], help="as rummage batch-recommend --method")
    embed.add_argument("--items", action="store_true", help="listings' embeddings instead of users' (--users then lists listing ids)")
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
        if arguments.command == "recommend":
            frame = batch_recommend(spark, registry=arguments.registry, model=arguments.model, log=arguments.log, users=users,
                                    partitions=arguments.partitions, k=arguments.k, version=arguments.version,
                                    method=arguments.method, rummage=arguments.rummage)
            what = "users' recommendations"
        else:
            frame = batch_embed(spark, registry=arguments.registry, model=arguments.model, users=users, items=arguments.items,
                                partitions=arguments.partitions, version=arguments.version, rummage=arguments.rummage)
            what = "listing embeddings" if arguments.items else "user embeddings"
        getattr(frame.write.mode("overwrite"), arguments.format)(arguments.out)
        written = spark.read.format(arguments.format).load(arguments.out).count()
        print(f"wrote {written} {what} to {arguments.out} ({arguments.format}, {arguments.partitions} partitions)", file=sys.stderr)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
