"""TEMPORARY: run the benchmark against the stand-in load module (delete with _scratch/)."""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import load  # noqa: E402

sys.modules["evcsms.simulator.load"] = load
import evcsms.simulator  # noqa: E402,F401

evcsms.simulator.load = load
sys.argv = [str(Path(__file__).parents[1] / "gateway_throughput.py"), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
