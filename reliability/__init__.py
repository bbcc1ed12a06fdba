"""Proving the session protocol: one history checker fed by two sources, a
deterministic simulator of the real engine (:mod:`reliability.sim`) and a
real-process run under gunicorn (:mod:`reliability.live`).

Not part of the package: it lives beside ``benchmarks/`` and runs with
``./dev simulate`` and ``./dev prove``.
"""
