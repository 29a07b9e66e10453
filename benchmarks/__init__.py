"""convo's benchmarks: each module measures convo against a baseline in the
same process and reports ratios (``python -m benchmarks``)."""
