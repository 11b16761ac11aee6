import sys

from msc_bluesky.cli import main

sys.exit(main())
