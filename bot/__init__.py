"""briefbot: the platform-neutral briefing engine.

Nothing in this package imports Slack or Discord code; adapters in ``adapters/`` translate
platform events into calls on :class:`bot.engine.BriefingEngine` and render its replies.
"""

import os as _os

# Before numpy is imported (by the summarizers): OpenBLAS would start a thread per core that
# spins after every call, for matrices of at most a few hundred rows that one thread handles
# (it burned ~13% of a core for nothing, issue 17). An operator's own setting wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")

__version__ = "0.1.0"
