"""What the benchmark scripts share: describing the machine and recording into BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import re
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine(extra: str = "") -> str:
    """nproc, CPU model, memory, OS and Python version, then `extra` (library versions)."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    described = (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}"
    )
    return f"{described}, {extra}" if extra else described


def record(text: str, start: str, end: str) -> Path:
    """Replace (or append) the section between the markers `start` and `end` of BENCHMARKS.md."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end) + "\n?", re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated, encoding="utf-8")
    return path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
