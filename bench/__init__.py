"""The benchmark: qunguan against the smallest websockets + uvloop broadcast server.

Run ``python -m bench`` (see docs/benchmark.md).
"""
