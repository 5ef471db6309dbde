"""The deployment figures are measured, not assumed."""
from tools import bench_host, build


def test_mpy_bytes_are_the_staged_mpy_files():
    assert bench_host.mpy_bytes("esp32") == sum(
        len(v) for k, v in build.stage("esp32").items() if k.endswith(".mpy"))
