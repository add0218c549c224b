"""`python -m bench` lists the entry points."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lists_every_entry_point_without_importing_torch():
    code = "import sys; import bench.__main__ as m; m.main(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    for name in ("flops", "train", "depth_sweep", "ablation", "gradflow", "epoch_time", "kernel", "kernel_aot",
                 "gpu_suite", "reproduce", "evaluate", "data", "loader"):
        assert any(line.split()[:1] == [f"bench.{name}"] and len(line.split()) > 2 for line in lines), name
    assert not any(line.split()[:1] == ["bench.cli"] for line in lines)  # helpers are not entry points
    assert lines[-1] == "False"
