"""The Spark batch job (rummage.spark) on local[2]: its output equals `rummage batch-recommend` for the same users."""

import json

import numpy as np

from pyspark.sql import SparkSession

from conftest import RUMMAGE, run
from rummage import spark as rummage_spark


def expected(marketplace, *extra):
    out = marketplace.work / f"batch-{len(extra)}.jsonl"
    run("batch-recommend", "--registry", str(marketplace.registry), "--model", "mp", "--log", str(marketplace.log),
        "--k", "10", "--out", str(out), "--quiet", *extra)
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    return {a["user"]: (a["model_version"], [(i["item"], i["score"]) for i in a["items"]], a["fallback"]) for a in answers}


def rows(frame):
    return {r.user: (r.model_version, [(i.item, i.score) for i in r["items"]], r.fallback) for r in frame.collect()}


def same_answers(got, want):
    """The same users, versions, fallbacks and listings in the same order; scores equal up to float32
    rounding (sgemm sums a user's row in another order when the user shares a block with other users)."""
    assert got.keys() == want.keys()
    for user, (version, items, fallback) in got.items():
        want_version, want_items, want_fallback = want[user]
        assert (version, fallback, [i for i, _ in items]) == (want_version, want_fallback, [i for i, _ in want_items]), user
        assert all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for (_, a), (_, b) in zip(items, want_items)), user


def test_the_spark_job_writes_what_batch_recommend_answers(marketplace, tmp_path):
    session = SparkSession.builder.master("local[2]").appName("rummage-test").config("spark.ui.enabled", "false").getOrCreate()
    try:
        common = dict(registry=str(marketplace.registry), model="mp", log=str(marketplace.log), k=10, rummage=RUMMAGE)
        # Every user, partition i being `--shard i/3`, written as Parquet and read back.
        everyone = expected(marketplace)
        out = tmp_path / "recommendations.parquet"
        rummage_spark.batch_recommend(session, partitions=3, **common).write.parquet(str(out))
        written = rows(session.read.parquet(str(out)))
        assert len(written) == len(everyone) > 100
        same_answers(written, everyone)
        # Named users (one unknown to the model: its fallback list), spread over 4 partitions.
        named = sorted(everyone)[:25] + ["nobody-knows-me"]
        users = tmp_path / "users.txt"
        users.write_text("\n".join(named) + "\n")
        same_answers(rows(rummage_spark.batch_recommend(session, users=named, partitions=4, **common)),
                     expected(marketplace, "--users", str(users)))
    finally:
        session.stop()


def test_the_command_line_writes_parquet(marketplace, tmp_path):
    out = tmp_path / "cli.parquet"
    assert rummage_spark.main(["recommend", "--registry", str(marketplace.registry), "--model", "mp", "--log", str(marketplace.log),
                               "--out", str(out), "--k", "5", "--partitions", "2", "--rummage", RUMMAGE, "--master", "local[2]"]) == 0
    session = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        frame = session.read.parquet(str(out))
        assert frame.count() == len(expected(marketplace))
        assert all(len(r["items"]) <= 5 for r in frame.collect())
    finally:
        session.stop()


def test_the_spark_job_writes_the_versions_embeddings(marketplace, tmp_path):
    def cli(*extra):
        out = tmp_path / f"embed-{len(extra)}.jsonl"
        run("batch-embed", "--registry", str(marketplace.registry), "--model", "mp", "--out", str(out), "--quiet", *extra)
        answers = [json.loads(line) for line in out.read_text().splitlines()]
        key = "item" if "--items" in extra else "user"
        # As float32 (the stored width), the type Spark's rows hold.
        return {a[key]: (a["model_version"], [float(x) for x in np.float32(a["embedding"])]) for a in answers}

    session = SparkSession.builder.master("local[2]").appName("rummage-test").config("spark.ui.enabled", "false").getOrCreate()
    try:
        users = cli()
        assert len(users) == len(expected(marketplace)) and len({len(v) for _, v in users.values()}) == 1
        frame = rummage_spark.batch_embed(session, registry=str(marketplace.registry), model="mp", partitions=3, rummage=RUMMAGE)
        # The stored float32 values, written in their shortest decimal form, come back exactly.
        assert {r.user: (r.model_version, list(r.embedding)) for r in frame.collect()} == users
        listings = cli("--items")
        frame = rummage_spark.batch_embed(session, registry=str(marketplace.registry), model="mp", items=True,
                                          users=sorted(listings)[:40] + ["no-such-listing"], partitions=2, rummage=RUMMAGE)
        got = {r.item: (r.model_version, list(r.embedding)) for r in frame.collect()}
        assert got == {item: listings[item] for item in sorted(listings)[:40]}
    finally:
        session.stop()
