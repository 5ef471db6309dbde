"""The deployment figures are measured, not assumed."""
from tools import bench_host, build


def test_mpy_bytes_are_the_staged_mpy_files():
    assert bench_host.mpy_bytes("esp32") == sum(
        len(v) for k, v in build.stage("esp32").items() if k.endswith(".mpy"))


def test_min_heap_is_a_real_boundary(tmp_path):
    staged, store = tmp_path / "staged", tmp_path / "store"
    store.mkdir()
    bench_host._stage_host(staged)
    least = bench_host.min_heap_bytes(50, str(staged), str(store))
    assert bench_host._scenario_runs(least, 50, str(staged), str(store))
    assert not bench_host._scenario_runs(least - 2 * bench_host._STEP, 50, str(staged), str(store))
