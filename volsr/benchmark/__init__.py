"""Evaluation harness: ``volsr benchmark`` and ``volsr view``.

- :mod:`volsr.benchmark.protocols`: named degradation protocols (``thick4``, ``kspace4``,
  ``iso-gauss4``, ``paired``, ...) and :func:`make_pair`.
- :mod:`volsr.benchmark.methods`: method names / folders -> ``predict(lr, grid)``.
- :mod:`volsr.benchmark.runner`: :func:`run_benchmark` (every method on every case,
  scored in world coordinates inside a foreground mask).
- :mod:`volsr.benchmark.report`: CSV, JSON, Markdown and self-contained HTML reports.
- :mod:`volsr.benchmark.figures`: comparison figures (matplotlib, imported lazily).

Example:
    >>> from volsr.benchmark import PROTOCOLS
    >>> PROTOCOLS["thick4"].specs[0]["factor"]
    4.0
"""

from volsr.benchmark.methods import Method, build_method, parse_methods
from volsr.benchmark.protocols import PROTOCOLS, Protocol, case_seed, get_protocol, make_pair
from volsr.benchmark.runner import (
    RESULT_METRICS,
    BenchmarkResult,
    crop_center,
    run_benchmark,
    summarize,
)

__all__ = [
    "PROTOCOLS",
    "RESULT_METRICS",
    "BenchmarkResult",
    "Method",
    "Protocol",
    "build_method",
    "case_seed",
    "crop_center",
    "get_protocol",
    "make_pair",
    "parse_methods",
    "run_benchmark",
    "summarize",
]
