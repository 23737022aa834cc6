"""scripts/test's Redis: database 15 of the server REDIS_URL names (started there when nothing
answers), unless TEST_REDIS_URL says otherwise."""

from __future__ import annotations

import contextlib
import os
import subprocess

import redis

from tests.conftest import ROOT
from tests.e2e.support import free_port

TEST = ROOT / "scripts" / "test"


def _scripts_test(env: dict[str, str]) -> subprocess.CompletedProcess:
    """scripts/test up to pytest, which only collects one small module."""
    return subprocess.run([str(TEST), "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests/scripts/test_test.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_tests_use_database_15_of_the_redis_url_server() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TEST_REDIS_URL"}
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    server = redis.Redis(port=port, db=15)
    try:
        result = _scripts_test(env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Redis at redis://127.0.0.1:{port}/15)" in result.stdout
        assert server.ping()    # started on REDIS_URL's port, where nothing answered
    finally:
        with contextlib.suppress(redis.ConnectionError):
            server.shutdown(nosave=True)
        server.close()


def test_test_redis_url_still_chooses(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
           "TEST_REDIS_URL": redis_url}
    result = _scripts_test(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Redis at {redis_url})" in result.stdout
