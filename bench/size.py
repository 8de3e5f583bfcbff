"""5. Deployment size: build/package/deployment.zip (written by `chorus package`), built here
when missing and the command exists. Lists the biggest top-level entries of the zip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from .common import ROOT, table, write_result

TARGET_BYTES = 10 * 1024 * 1024
ZIP = ROOT / "build" / "package" / "deployment.zip"


def build(timeout: float = 900) -> str | None:
    chorus = Path(sys.executable).parent / "chorus"
    if not chorus.exists():
        return "the chorus command is not installed"
    if "package" not in subprocess.run([str(chorus), "--help"], capture_output=True, text=True).stdout:
        return "`chorus package` does not exist yet"
    reply = subprocess.run(
        [str(chorus), "package", "--stage", "dev", "--out", "build/package"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
    )
    if reply.returncode != 0:
        return f"`chorus package` failed: {(reply.stderr or reply.stdout).strip()[-300:]}"
    return None


def run(build_if_missing: bool = True) -> dict[str, Any]:
    problem = None
    if not ZIP.is_file() and build_if_missing:
        problem = build()
    if not ZIP.is_file():
        print(f"\n## Deployment size\nno {ZIP.relative_to(ROOT)}: {problem or 'not built'}")
        path = write_result("size", {"zip": None, "problem": problem})
        return {"bytes": None, "path": str(path)}
    size = ZIP.stat().st_size
    by_top: dict[str, int] = {}
    with zipfile.ZipFile(ZIP) as archive:
        for info in archive.infolist():
            top = info.filename.split("/", 1)[0]
            by_top[top] = by_top.get(top, 0) + info.compress_size
        ships_boto3 = any(n.startswith(("boto3/", "botocore/")) for n in archive.namelist())
    ok = size < TARGET_BYTES and not ships_boto3
    biggest = sorted(by_top.items(), key=lambda kv: -kv[1])[:10]
    print(
        table(
            f"Deployment size: {ZIP.relative_to(ROOT)} = {size / 2**20:.2f} MiB "
            f"(target < 10 MiB, boto3 not shipped: {'yes' if not ships_boto3 else 'NO'})",
            ["top-level entry", "compressed KiB"],
            [[name, round(b / 1024, 1)] for name, b in biggest],
        )
    )
    path = write_result(
        "size",
        {
            "zip": str(ZIP.relative_to(ROOT)),
            "bytes": size,
            "target_bytes_max": TARGET_BYTES,
            "ships_boto3": ships_boto3,
            "meets_target": ok,
            "largest_entries_bytes": dict(biggest),
        },
    )
    shutil.rmtree(ROOT / "build" / "package" / "__pycache__", ignore_errors=True)
    return {"bytes": size, "path": str(path)}
