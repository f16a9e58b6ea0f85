"""Shared helpers for the deployment tests: run the deploy scripts, install Debian tools."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IS_ROOT = os.geteuid() == 0


def run_script(
    name: str, *args: str | Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run deploy/<name> with bash; the output is kept for the assertion message."""
    done = subprocess.run(
        ["bash", str(DEPLOY / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{name} {args} failed ({done.returncode}):\n{done.stderr}")
    return done


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything that could change under ``root``: type, mode, owner, content, link target,
    and the modification time of regular files (a rewrite with equal content shows too)."""
    state: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path), st.st_uid, st.st_gid)
        elif path.is_dir():
            state[rel] = ("dir", oct(st.st_mode), st.st_uid, st.st_gid)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[rel] = ("file", oct(st.st_mode), st.st_uid, st.st_gid, digest, st.st_mtime_ns)
    return state


def ensure_debian_tool(program: str, package: str) -> str:
    """The path of ``program``; installs Debian's ``package`` when missing and we are root,
    otherwise fails with the command to run."""
    found = shutil.which(program)
    if found:
        return found
    if IS_ROOT and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        if subprocess.run(install, capture_output=True, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
            subprocess.run(install, capture_output=True, env=env, check=False)
        found = shutil.which(program)
        if found:
            return found
    pytest.fail(f"{program} is needed: run 'sudo apt-get install {package}'")


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    """A throwaway root directory for install.sh --root."""
    root = tmp_path / "root"
    root.mkdir()
    return root
