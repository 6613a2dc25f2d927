"""Filter an Apache Spark DataFrame through the maytrain sidecar beside each executor.

    python examples/spark_filter.py --target 127.0.0.1:50051 [--records 100000] [--output kept/]

Each executor's Python worker keeps one client (per target) and decides its rows in
Arrow batches (mapInArrow). In a cluster leave --target out: each executor then uses its
own $MAYTRAIN_TARGET. Needs pyspark and pyarrow (pip install 'maytrain-client[spark]').
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from arrow_mask import sample_table
from pyspark.sql import DataFrame, SparkSession

from maytrain.client.spark import filter_dataframe


def allowed_records(spark: SparkSession, target: str | None, count: int) -> DataFrame:
    """The allowed rows of a DataFrame of `count` sample records."""
    records = spark.createDataFrame(sample_table(count)).repartition(4)
    return filter_dataframe(records, target)


def session(master: str) -> SparkSession:
    """A Spark session; a local one runs this Python and stays on loopback (as the tests do),
    so it neither guesses a network address nor listens beyond this machine."""
    builder = SparkSession.builder.master(master).appName("maytrain-example")
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the client is installed here
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false"))
    return builder.getOrCreate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="sidecar address (default: each executor's own)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]", help="Spark master (local[2])")
    parser.add_argument("--output", help="write the allowed rows here (Parquet)")
    args = parser.parse_args(argv)
    spark = session(args.master)
    try:
        kept = allowed_records(spark, args.target, args.records).cache()
        if args.output:
            kept.write.mode("overwrite").parquet(args.output)
        print(json.dumps({"total": args.records, "allowed": kept.count()}))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
