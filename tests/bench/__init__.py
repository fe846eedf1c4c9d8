"""The throughput benchmark (``make bench``): mailferry against mbsync, a naive copy and the raw limit.

Not part of ``make test``; ``tests/e2e/test_bench_smoke.py`` runs a small variant so it cannot rot.
"""
