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

# Hypothesis: reproducible (derandomized, no example database), no per-example deadline
# (the shared CI box is noisy). `make test` runs the "fast" profile; `make test-all` sets
# IMPLICITBIAS_HYPOTHESIS_PROFILE=thorough for more examples per property (and shrinking of
# a failing example, which "fast" skips to keep a failure's runtime bounded).
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

_HYP_COMMON = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("fast", max_examples=8, phases=[Phase.explicit, Phase.generate], **_HYP_COMMON)
settings.register_profile("thorough", max_examples=60, **_HYP_COMMON)
settings.load_profile(os.environ.get("IMPLICITBIAS_HYPOTHESIS_PROFILE", "fast"))
