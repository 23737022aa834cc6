"""Signals meant for the main thread reach it, in a process that runs other threads.

Python runs signal handlers in the main thread only, but the kernel hands a signal sent to
the process to any one of its threads that does not block it. When it picks another thread
while the main thread waits in a system call (rq's worker waits for its next job in a
blocking Redis read, for minutes), the handler is noted as due but nothing wakes the main
thread: Ctrl-C, a SIGTERM or rq's job timeout (SIGALRM) would go unanswered until that read
returns, and whoever stops the process would have to kill it.

A thread inherits the signal mask of the thread that starts it, and some threads start
before any code of ours runs (numpy's BLAS starts its pool when numpy is imported). So the
main thread blocks these signals first thing (`hold_for_the_main_thread`), every thread
started from then on blocks them for its whole life, and the main thread takes them again
once its own threads run (`take_in_the_main_thread`): from then on the kernel gives them to
the main thread, whose read is interrupted and whose handler runs. A signal that came in
between waits, and is handled then.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

MAIN_THREAD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGALRM})


def hold_for_the_main_thread() -> None:
    """In the main thread, before anything starts a thread: the threads started from now on
    never receive `MAIN_THREAD_SIGNALS`."""
    signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)


def take_in_the_main_thread() -> None:
    """In the main thread: it receives `MAIN_THREAD_SIGNALS` again, those held meanwhile
    first. Processes forked from now on (they inherit the mask) receive them too."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, MAIN_THREAD_SIGNALS)


@contextmanager
def threads_leave_signals_to_main() -> Iterator[None]:
    """Threads started in this block, from the main thread, never receive
    `MAIN_THREAD_SIGNALS`."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
