"""One writing session in its own process, for the two-writers fault test.

``python writer_process.py DATA_DIR RUNS SEED OUT.json``: runs ``RUNS`` condition scans
(three conditions, UV-Vis and SAXS) through a RunEngine with the live analysis and the
journalled writer on the embedded store of ``DATA_DIR``, then writes what it acquired
and what the writer reports to ``OUT.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bluesky import RunEngine
from storage_support import condition_scan, make_devices

from msc_bluesky.callbacks import LiveAnalysis
from msc_bluesky.storage.catalog import close_client, open_catalog
from msc_bluesky.storage.writer import JournaledWriter


def main(data_dir: Path, runs: int, seed: int, out: Path) -> int:
    client = open_catalog(data_dir)
    writer = JournaledWriter(client, data_dir / "backup")
    reactor, uvvis, saxs = make_devices(seed)
    RE = RunEngine({})  # noqa: N806 - bluesky's conventional name
    documents: dict[str, int] = {}

    def count(name, doc):
        uid = doc["uid"] if name == "start" else count.current
        count.current = uid
        documents[uid] = documents.get(uid, 0) + 1

    RE.subscribe(count)
    RE.subscribe(writer)
    live = LiveAnalysis(writer)
    RE.subscribe(live)
    grid = [
        {"t_nuc": 240.0 + 10 * i + seed, "t_growth": 200.0, "reaction_time": 2.0}
        for i in range(3)
    ]
    raw = [RE(condition_scan(reactor, [uvvis, saxs], grid))[0] for _ in range(runs)]
    drained = writer.close(300)
    close_client(client)
    out.write_text(
        json.dumps(
            {
                "drained": drained,
                "raw": raw,
                "analysis": [live.analysis_uids[uid] for uid in raw],
                "raw_documents": documents,
                "stored": writer.status.stored,
                "backed_up": writer.status.backed_up,
                "documents_kept": writer.status.documents_kept,
                "retries": writer.status.retries,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])))
