"""Stop documents that say why a run ended, in words a person can act on.

bluesky's ``run_wrapper`` records ``str(exception)`` as the reason, which for a failed
status is the status repr (``DeviceStatus(device=reactor_flush, done=True,
success=False)``), and closes an aborted run itself with no reason, so the reason given
to ``RE.abort(reason)`` is lost. :func:`run_with_reasons` replaces it:

- a failure: ``exit_status`` ``fail`` with :func:`describe_failure` of the exception
  (a :class:`~msc_bluesky.plans.watch.ReactorFault` behind a failed status is raised
  in its place, so the caller sees the same sentence);
- ``RE.abort(reason)``: the run is left open for the RunEngine, which closes it with
  ``exit_status`` ``abort`` and the reason it was given;
- ``RE.stop()``: ``exit_status`` ``success`` and the reason "stopped on request
  (RE.stop())".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import FailedStatus, Msg, RequestAbort, RequestStop

from msc_bluesky.plans.watch import ReactorFault

STOP_REASON = "stopped on request (RE.stop())"


def _status_of(exc: BaseException) -> Any:
    return exc.args[0] if exc.args else None


def _device_name(status: Any) -> str:
    for attr in ("device", "obj"):
        obj = getattr(status, attr, None)
        if obj is not None and getattr(obj, "name", None):
            return str(obj.name)
    left = getattr(status, "left", None)
    return _device_name(left) if left is not None else "a device"


def _status_error(status: Any) -> BaseException | None:
    try:
        return status.exception(timeout=0)
    except Exception:  # noqa: BLE001 - not finished or no exception
        return None


def describe_failure(exc: BaseException) -> str:
    """A sentence for a stop document: which device failed and why.

    ``FailedStatus`` is unwrapped to the status's own exception (a ReactorFault's text,
    or "<device> did not finish within <timeout> s", or "<device> failed: <error>").
    """
    if isinstance(exc, FailedStatus):
        status = _status_of(exc)
        inner = _status_error(status) or exc.__cause__
        if isinstance(inner, ReactorFault):
            return str(inner)
        for part in (getattr(status, "left", None), getattr(status, "right", None)):
            if part is not None and part.done and not part.success:
                status = part
                inner = _status_error(part) or inner
                break
        name = _device_name(status)
        if inner is not None and "Timeout" in type(inner).__name__:
            timeout = getattr(status, "timeout", None)
            within = f" within {timeout:g} s" if timeout else " in time"
            return f"{name} did not finish{within}"
        detail = f"{type(inner).__name__}: {inner}" if inner is not None else "status failed"
        return f"{name} failed: {detail}"
    text = str(exc)
    return text if text else type(exc).__name__


def reactor_fault_of(exc: BaseException) -> ReactorFault | None:
    """The ReactorFault behind ``exc`` (itself, or a failed status's exception)."""
    if isinstance(exc, ReactorFault):
        return exc
    if isinstance(exc, FailedStatus):
        inner = _status_error(_status_of(exc)) or exc.__cause__
        if isinstance(inner, ReactorFault):
            return inner
    return None


def run_with_reasons(
    plan: Generator[Msg, Any, Any], *, md: dict[str, Any] | None = None
) -> Generator[Msg, Any, str]:
    """Like ``bluesky.preprocessors.run_wrapper``, keeping the reason a run ended.

    Returns
    -------
    str
        The run's start uid.
    """
    uid = yield from bps.open_run(md)

    def except_plan(exc: BaseException) -> Generator[Msg, Any, None]:
        if isinstance(exc, RequestAbort):
            return  # the RunEngine closes the run with the reason given to RE.abort
        if isinstance(exc, RequestStop):
            yield from bps.close_run(exit_status="success", reason=STOP_REASON)
            return
        yield from bps.close_run(exit_status="fail", reason=describe_failure(exc))
        fault = reactor_fault_of(exc)
        if fault is not None and fault is not exc:
            raise ReactorFault(str(fault)) from exc

    yield from bpp.contingency_wrapper(plan, except_plan=except_plan, else_plan=bps.close_run)
    return uid


def run_decorator_with_reasons(md: dict[str, Any] | None = None):
    """Decorator form of :func:`run_with_reasons`."""

    def decorator(func):
        def wrapped(*args: Any, **kwargs: Any):
            return (yield from run_with_reasons(func(*args, **kwargs), md=md))

        return wrapped

    return decorator
