"""What a restart costs: counting a connector's records in its topic before it continues.

    .venv/bin/python bench/resume_bench.py [--records 100000 1000000]

Fills an embedded topic (in a throwaway state directory) with test-connector greetings and times
``fluvio_connectors.resume.count_own`` over them, as a restarted test connector does before its
next record (an MQTT connector counts in the background instead). Prints figures only; it never
passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from fluvio_connectors.resume import count_own
from fluvio_connectors.test_connector import GREETING, count_greetings
from fluvio_connectors.topics.embedded import EmbeddedTopics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fluvio-resume-bench-"))
    try:
        topics = EmbeddedTopics(home / "topics.db")
        written = 0
        topics.create_topic("greetings")
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        for total in sorted(args.records):
            with topics.producer("greetings", batch_size=10_000) as producer:
                for i in range(written + 1, total + 1):
                    producer.send(b"greeter", GREETING.format(i).encode())
            written = total
            started = time.perf_counter()
            found = count_own(topics, "greetings", 0, topics.end_offset("greetings"), count_greetings,
                              connector="greeter")
            seconds = time.perf_counter() - started
            print(f"{total:>10} records: counted {found} in {seconds:6.2f} s ({total / seconds:,.0f} records/s)")
        topics.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
