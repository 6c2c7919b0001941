# SPDX-License-Identifier: LGPL-2.1-or-later
"""pytest setup: the package from this tree, the memfd backend, a fresh
service name per test, and the count line tools/check reads
("python: N passed, N failed")."""

import itertools
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
TOP = os.path.dirname(PYDIR)
sys.path.insert(0, PYDIR)
# Before libshmk is loaded: the tests run on the host, without /dev/shmk.
os.environ.setdefault("SHMK_BACKEND", "memfd")

import shmk  # noqa: E402

_seq = itertools.count()


@pytest.fixture
def name():
    """A service name no other test (or run) uses; removed afterwards."""
    n = "py.%d.%d" % (os.getpid(), next(_seq))
    yield n
    try:
        shmk.remove(n)
    except shmk.Error:
        pass


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    terminalreporter.write_line("python: %d passed, %d failed"
                                % (passed, failed))
