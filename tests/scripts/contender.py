"""One of several processes working the same items at once (tests/test_multiprocess.py).

    python contender.py URL NOW ROLE GO_FILE

ROLE is `advance` (a rectifier submitting items one by one, in a shuffled order), `bulk` (a
leader closing every open item in batches) or `sweep` (sweeping until nothing is due). The
process imports and opens the database first, then waits for GO_FILE so all of them start on
the database together. It prints one JSON line of what it did.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path


def main() -> None:
    url, now, role, go = sys.argv[1:5]
    from rectify.engine.app.bulk import bulk
    from rectify.engine.app.service import Service
    from rectify.engine.app.sweep import sweep
    from rectify.engine.app.views import ItemFilter
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.core.errors import Conflict, Refused
    from rectify.engine.store.db import open_engine

    service = Service(open_engine(url), FixedClock(datetime.fromisoformat(now)))
    deadline = time.monotonic() + 60
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.005)  # synchronisation only: wait for the start signal
    done: dict[str, int] = {}
    if role == "advance":
        ids = list(range(1, int(sys.argv[5]) + 1))
        random.Random(7).shuffle(ids)
        for item_id in ids:
            try:
                service.advance(item_id, "zhang", "submit", values={"measures": "已整改"})
                outcome = "fired"
            except Conflict:
                outcome = "conflict"
            except Refused as refused:
                outcome = f"refused:{refused.reason}"
            done[outcome] = done.get(outcome, 0) + 1
    elif role == "bulk":
        for _ in range(3):  # three passes: items another process moved may be closable later
            summary = bulk(service, "wang", "close", ItemFilter(workflow="contest"), batch=200)
            done["fired"] = done.get("fired", 0) + summary.fired
            done["refused"] = done.get("refused", 0) + summary.refused
    elif role == "sweep":
        for _ in range(20):
            report = sweep(service, batch=300)
            done["escalations"] = done.get("escalations", 0) + len(report.escalations)
            done["fired"] = done.get("fired", 0) + len(report.fired)
            done["errors"] = done.get("errors", 0) + len(report.errors)
            if not report.escalations:
                break
    print(json.dumps(done))


if __name__ == "__main__":
    main()
