"""Build the offline bundle: one versioned archive that installs the bridge with no network.

    .venv/bin/python packaging/build_bundle.py [--arch x86_64 --arch aarch64 | --host-only]
                                               [--cache DIR] [--out DIR] [--sign-key FERRY_SM2_KEY]

Inside ``pension-bridge-<version>-<commit>/``:

- ``wheels/<arch>/``: the project's wheel and every dependency as a wheel for CPython 3.11 on
  manylinux (glibc 2.17 and later: CentOS 7, Kylin V10, UOS) for each architecture, x86_64 and
  aarch64 (Kunpeng, Phytium). A dependency without such a wheel stops the build, naming it.
- ``install.sh``: checks ``SHA256SUMS``, creates the virtual environment with
  ``pip install --no-index --find-links``, copies the units and example settings.
- ``systemd/``, ``env/``: the units and example env files of ``docs/operations.md``.
- ``VERSION``: version, commit, schema head, architectures, build time.
- ``SHA256SUMS`` of every other file, and ``SHA256SUMS.sig`` when ``--sign-key`` gives the
  ferry's SM2 key (``pension-bridge ferry keygen``): the signature the loader's side checks with
  ``pension-bridge bundle verify --peer-key``, so the archive itself can cross the gateway.

The commit is recorded in the wheel (``bridge/_build.py``, written into a copy of the source,
never into the checkout). Downloaded wheels are kept in ``--cache`` between builds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
ARCHES = ("x86_64", "aarch64")
GLIBC_MINOR = 17  # manylinux_2_17 (manylinux2014): the oldest glibc of the target systems
DEFAULT_CACHE = Path.home() / ".cache" / "pension-bridge-bundle"
_SAVED = re.compile(r"^\s*(?:Saved|File was already downloaded) (.+\.whl)\s*$", re.M)
_NO_WHEEL = re.compile(r"(?:No matching distribution found for|Could not find a version that satisfies "
                       r"the requirement) (\S+)")


class BuildError(SystemExit):
    """Stops the build with one line saying what is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(f"bundle: {message}")


def platforms(arch: str) -> list[str]:
    """pip ``--platform`` tags a wheel for glibc 2.17 on ``arch`` may carry."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]
    return tags + [f"manylinux2014_{arch}"] + ([f"manylinux2010_{arch}", f"manylinux1_{arch}"]
                                                if arch == "x86_64" else [])


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def source_commit() -> str:
    try:
        head = git("rev-parse", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def copy_source(into: Path, commit: str) -> Path:
    """The files git knows of (and new ones not ignored), as they are, plus ``bridge/_build.py``."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        path = ROOT / name
        if path.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, into / name)
    built = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (into / "bridge" / "_build.py").write_text(
        f'"""Written by packaging/build_bundle.py."""\n\nCOMMIT = "{commit}"\nBUILT_AT = "{built}"\n',
        encoding="utf-8")
    return into


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def project_wheel(source: Path, out: Path) -> Path:
    done = pip("wheel", "--no-deps", "--quiet", "-w", str(out), str(source))
    if done.returncode:
        raise BuildError(f"the project's wheel did not build:\n{done.stderr[-3000:]}")
    return next(out.glob("pension_bridge-*.whl"))


def dependency_wheels(wheel: Path, arch: str, cache: Path) -> list[Path]:
    """Every wheel the project needs on ``arch`` (CPython 3.11, manylinux), downloaded once into ``cache``."""
    folder = cache / arch
    folder.mkdir(parents=True, exist_ok=True)
    # pip copies the project's own wheel into the folder and, finding one of the same name there on
    # the next build, reads the old one's dependencies: a dependency added since was left out.
    for stale in folder.glob(f"{wheel.name.split('-')[0]}-*.whl"):
        stale.unlink()
    tags = [arg for tag in platforms(arch) for arg in ("--platform", tag)]
    done = pip("download", "--only-binary=:all:", *tags, "--python-version", "3.11", "--implementation", "cp",
               "--abi", "cp311", "--abi", "abi3", "--abi", "none", "-d", str(folder), str(wheel))
    if done.returncode:
        missing = sorted(set(_NO_WHEEL.findall(done.stdout + done.stderr)))
        if missing:
            raise BuildError(f"no wheel for CPython 3.11 manylinux {arch} of: {', '.join(missing)}")
        raise BuildError(f"pip download for {arch} failed:\n{done.stderr[-3000:]}")
    found = [Path(p) if Path(p).is_absolute() else Path.cwd() / p for p in _SAVED.findall(done.stdout)]
    wheels = [p for p in found if p.name != wheel.name]
    if not wheels:
        raise BuildError(f"pip download for {arch} named no wheel:\n{done.stdout[-2000:]}")
    return wheels


def write_sums(bundle: Path) -> bytes:
    lines = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(bundle).as_posix()}\n")
    content = "".join(lines).encode()
    (bundle / "SHA256SUMS").write_bytes(content)
    return content


def sign_sums(bundle: Path, content: bytes, key_file: Path) -> None:
    """``SHA256SUMS.sig``: the ferry's SM2-SM3 signature of the sums (sync/ferry/signing.py)."""
    sys.path.insert(0, str(ROOT))
    from sync.ferry.signing import Sm2BatchSigner
    from sync.sealing.signer import read_key

    key = read_key(key_file)
    if key.algorithm != "SM2-SM3" or not key.private_key:
        raise BuildError(f"{key_file}: not an SM2 private key (pension-bridge ferry keygen)")
    (bundle / "SHA256SUMS.sig").write_text(Sm2BatchSigner(key, None).sign(content) + "\n", encoding="ascii")


def schema_head() -> str:
    text = (ROOT / "sync" / "ledger" / "migrate.py").read_text(encoding="utf-8")
    return re.search(r'^HEAD = "([^"]+)"', text, re.M).group(1)


def build(arches: list[str], cache: Path, out: Path, sign_key: Path | None) -> Path:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    commit = source_commit()
    name = f"pension-bridge-{version}-{commit[:12].replace('+', '')}"
    with tempfile.TemporaryDirectory(prefix="pb-bundle-") as tmp:
        work = Path(tmp)
        wheel = project_wheel(copy_source(work / "src", commit), work / "project")
        bundle = work / name
        for arch in arches:
            target = bundle / "wheels" / arch
            target.mkdir(parents=True)
            shutil.copy2(wheel, target / wheel.name)
            for dep in dependency_wheels(wheel, arch, cache):
                shutil.copy2(dep, target / dep.name)
        for folder in ("systemd", "env"):
            shutil.copytree(HERE / folder, bundle / folder)
        shutil.copy2(HERE / "install.sh", bundle / "install.sh")
        (bundle / "install.sh").chmod(0o755)
        (bundle / "VERSION").write_text(
            f"version={version}\ncommit={commit}\nschema={schema_head()}\narches={' '.join(arches)}\n"
            f"built_at={datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n", encoding="utf-8")
        sums = write_sums(bundle)
        if sign_key is not None:
            sign_sums(bundle, sums, sign_key)
        out.mkdir(parents=True, exist_ok=True)
        archive = out / f"{name}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(bundle, arcname=name)
    return archive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=ARCHES, help="an architecture (default: both)")
    parser.add_argument("--host-only", action="store_true", help="only this machine's architecture (tests)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("PB_BUNDLE_CACHE", DEFAULT_CACHE)))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bundle")
    parser.add_argument("--sign-key", type=Path, help="the ferry's SM2 key file: sign SHA256SUMS")
    args = parser.parse_args(argv)
    arches = [host_arch()] if args.host_only else (args.arch or list(ARCHES))
    if any(a not in ARCHES for a in arches):
        raise BuildError(f"architecture {arches} not supported: {', '.join(ARCHES)}")
    print(build(arches, args.cache, args.out, args.sign_key))


if __name__ == "__main__":
    main()
