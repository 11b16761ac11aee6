"""RunEngine, devices, live analysis and tiled writing, configured from the environment.

MSC_PREFIX (PV prefix), MSC_DATA_DIR (embedded tiled store) or MSC_TILED_URI and
MSC_TILED_API_KEY (a tiled server), or MSC_CONFIG (a YAML file with the same fields);
MSC_LIVE_STREAM (host:port of a 0MQ proxy) publishes every document for `msc-bluesky live`.
Nothing connects to EPICS here: devices connect when a plan first uses them.
"""

from msc_bluesky.qserver.startup import best_effort_callback, open_session
from msc_bluesky.storage.databroker import session_databroker

session = open_session()
RE = session.RE
reactor = session.reactor
uvvis = session.uvvis
saxs = session.saxs
bec = best_effort_callback(session)  # tables; plots with a display; None in the queue server
db = session_databroker(session)  # databroker: db[-1] is the last scan; tiled profile "msc"
