"""Benchmarks: scripts that print figures (``python -m benchmarks.scale``, ``benchmarks/run_observation.py``).

They are never timed tests; ``tests/e2e/test_bench_smoke.py`` only checks that the scale benchmark produces every
figure at a small N.
"""
