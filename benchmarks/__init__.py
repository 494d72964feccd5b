"""Speed and memory benchmarks of the extraction paths and of the whole pipeline.

``python -m benchmarks`` (``make benchmark``) generates the demo operational data into a
fresh PostgreSQL database, measures each extraction path in its own subprocess (wall
time, CPU, peak RSS, correctness against the source), times the whole pipeline full vs
incremental at several history sizes, and writes ``docs/benchmarks.md``.
"""
