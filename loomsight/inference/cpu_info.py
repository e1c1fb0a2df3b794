"""What CPU the detector runs on: its name, its cores, and the int8 instructions it has.

An int8 model's speed-up over fp32 depends on the CPU. ONNX Runtime multiplies uint8 activations
by int8 weights with one VNNI instruction where the CPU has AVX512-VNNI or AVX-VNNI, and with two
AVX2 instructions (`vpmaddubsw`, whose 16-bit pair sums saturate unless the weights keep to 7
bits, then `vpmaddwd`) where it has AVX2 only. The default model's int8 file ran 1.8x to 1.9x
fp32 on the machines of the earlier sessions here, 1.2x to 1.45x on the AVX2-only AMD EPYC (Zen
3) of a later one, which also ran fp32 three times slower (bare session.run at 416, 1 thread: 16
against 44 to 51 ms). So benchmarks print this line under their tables: figures from different
machines are not one series, and ratios measured in one run are what compare.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The x86 flags (as /proc/cpuinfo names them) that decide how ONNX Runtime runs int8 products,
# best first
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512bw", "avx2")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as the operating system reports it."""

    model_name: str  # e.g. "AMD EPYC", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"
    machine: str  # e.g. "x86_64", "aarch64"
    cores: int  # usable by this process
    int8_flags: tuple[str, ...]  # those of INT8_FLAGS the CPU has, best first

    @property
    def has_vnni(self) -> bool:
        """True if int8 products take one instruction (AVX512-VNNI, AVX-VNNI or AMX)."""
        return any(flag in self.int8_flags for flag in ("amx_int8", "avx512_vnni", "avx_vnni"))

    def describe(self) -> str:
        """One line, e.g. "AMD EPYC, x86_64, 2 cores; int8: avx2 (no VNNI)"."""
        if self.machine not in ("x86_64", "AMD64", "i686", "x86"):
            int8 = "not an x86 CPU"
        elif not self.int8_flags:
            int8 = "no AVX2"
        else:
            int8 = ", ".join(self.int8_flags) + ("" if self.has_vnni else " (no VNNI)")
        return f"{self.model_name}, {self.machine}, {self.cores} cores; int8: {int8}"


def parse_cpuinfo(text: str, machine: str, cores: int) -> CpuInfo:
    """CpuInfo from the text of /proc/cpuinfo (its first processor's `model name` and `flags`)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return CpuInfo(
        model_name=fields.get("model name") or platform.processor() or "unknown CPU",
        machine=machine,
        cores=cores,
        int8_flags=tuple(flag for flag in INT8_FLAGS if flag in flags),
    )


def cpu_info(cpuinfo: Path = CPUINFO) -> CpuInfo:
    """This machine's CPU; without /proc/cpuinfo (not Linux), its name and flags are unknown."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return parse_cpuinfo(text, platform.machine(), cores or 1)
