"""Forked children end with the process that forked them.

rq's worker forks a work horse per job and a scheduler process. When the worker is killed
outright (SIGKILL, the OOM killer), neither is told: the scheduler would go on enqueueing and
the horse on sending, with nobody to reap them. On Linux the kernel can signal a child when
its parent dies (prctl PR_SET_PDEATHSIG); this asks for SIGTERM in every child forked after
`end_children_with_this_process()`, which the horse (SIG_DFL) dies of and the scheduler
answers by releasing its locks and stopping.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1   # <linux/prctl.h>

_forking_pid: int | None = None
_prctl = None   # libc's prctl, bound once in the parent: a child only calls it


def _remember_parent() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _die_with_parent() -> None:
    if _prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return
    # The parent may have died between fork() and prctl(): nothing would signal us then.
    if os.getppid() != _forking_pid:
        os.kill(os.getpid(), signal.SIGTERM)


def end_children_with_this_process() -> bool:
    """From now on every child forked by this process gets SIGTERM when its parent dies.
    False where the platform cannot do it (not Linux)."""
    global _prctl
    if not sys.platform.startswith("linux"):
        log.warning("child processes cannot be tied to this one on %s; if it is killed, "
                    "stop its children by hand", sys.platform)
        return False
    if _prctl is None:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl   # the process's own libc
        os.register_at_fork(before=_remember_parent, after_in_child=_die_with_parent)
    return True
