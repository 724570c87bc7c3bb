"""The connection cap fits under the process's open-file limit."""

from __future__ import annotations

import resource

from qwenchat.api.server import connection_cap


def test_the_connection_cap_fits_under_the_open_file_limit() -> None:
    assert connection_cap(100) == 100  # the soft limit is raised if it has to be
    huge = connection_cap(10**9)  # more than any hard limit allows: lowered to fit
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 0 < 2 * huge < soft
