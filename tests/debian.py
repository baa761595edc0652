"""This module finds a program the tests need (nginx, redis-server), installing its Debian package first when
it is missing, as CI on a clean machine must (it runs as root). It fails, never skips, when that is impossible,
unless the program's skip variable (``DROID2API_SKIP_NGINX=1``, ``DROID2API_SKIP_REDIS=1``) says to leave
it out: then the tests that need it skip."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

SEARCHED = "/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin"  # sbin is not always on PATH


def installed(program: str, package: str, skip_variable: str) -> str:
    """``program``'s path, after ``apt-get install package`` if need be."""
    if os.environ.get(skip_variable) == "1":
        pytest.skip(f"{skip_variable}=1")
    found = _find(program)
    if found:
        return found
    environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", package]):
        try:
            done = subprocess.run(step, env=environ, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.fail(f"{program} is not installed and `{' '.join(step)}` could not run ({e}); install {package}, "
                        f"run the tests as root on a Debian-like system, or set {skip_variable}=1")
        if done.returncode != 0:
            pytest.fail(f"{program} is not installed and `{' '.join(step)}` failed ({done.returncode}); install "
                        f"{package}, run the tests as root, or set {skip_variable}=1:\n{done.stdout}\n{done.stderr}")
    found = _find(program)
    if not found:
        pytest.fail(f"apt-get installed {package} but no {program} binary is on PATH or in {SEARCHED}")
    return found


def _find(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path=SEARCHED)
