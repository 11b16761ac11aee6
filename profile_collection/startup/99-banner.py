"""A short banner of what the profile defines (not printed in the queue server)."""

from msc_bluesky.qserver.startup import print_banner

print_banner()
