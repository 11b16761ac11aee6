"""``python -m msc_bluesky.iocs``: the simulated IOCs, same options as ``msc-bluesky ioc``."""

import sys

from msc_bluesky.iocs.server import main

sys.exit(main())
