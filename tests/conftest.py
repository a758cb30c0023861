import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Test-only experiments are registered through the environment so worker processes see them.
os.environ.setdefault("IMPLICITBIAS_EXPERIMENTS", "toy=tests.fixtures.toy_experiment")
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
