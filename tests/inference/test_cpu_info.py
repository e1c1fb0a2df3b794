"""cpu_info: the CPU's name, cores and int8 instructions, from /proc/cpuinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomsight.inference.cpu_info import cpu_info, parse_cpuinfo

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 avx f16c avx2 bmi2 sha_ni vaes
processor\t: 1
model name\t: another name that is not read
flags\t\t: avx512_vnni
"""
XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
flags\t\t: fpu avx2 avx512f avx512bw avx512_vnni amx_int8 amx_tile
"""


@pytest.mark.parametrize(
    ("text", "machine", "flags", "vnni", "line"),
    [
        (EPYC, "x86_64", ("avx2",), False, "AMD EPYC, x86_64, 2 cores; int8: avx2 (no VNNI)"),
        (
            XEON,
            "x86_64",
            ("amx_int8", "avx512_vnni", "avx512bw", "avx2"),
            True,
            "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz, x86_64, 2 cores; "
            "int8: amx_int8, avx512_vnni, avx512bw, avx2",
        ),
        (
            "model name\t: old\nflags\t: sse2 sse4_1\n",
            "x86_64",
            (),
            False,
            "old, x86_64, 2 cores; int8: no AVX2",
        ),
        ("processor\t: 0\nFeatures\t: fp asimd\n", "aarch64", (), False, None),
    ],
)
def test_parse_cpuinfo_reads_the_first_processor(
    text: str, machine: str, flags: tuple[str, ...], vnni: bool, line: str | None
) -> None:
    info = parse_cpuinfo(text, machine, cores=2)
    assert info.int8_flags == flags
    assert info.has_vnni is vnni
    if line is not None:
        assert info.describe() == line
    else:
        assert info.describe().endswith("2 cores; int8: not an x86 CPU")
        assert info.model_name  # platform's name, or "unknown CPU"


def test_cpu_info_without_proc_cpuinfo_still_describes_the_machine(tmp_path: Path) -> None:
    info = cpu_info(tmp_path / "missing")
    assert info.cores >= 1
    assert info.int8_flags == ()
    assert f"{info.cores} cores" in info.describe()


def test_cpu_info_of_this_machine_counts_its_usable_cores() -> None:
    import os

    info = cpu_info()
    assert 1 <= info.cores <= (os.cpu_count() or 1)
    assert info.model_name
