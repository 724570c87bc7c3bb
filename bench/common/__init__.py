"""What the benchmark scripts share: the BENCHMARKS.md writer (``report``), medians and
percentiles (``stats``), CPU from /proc and the neighbours' load (``cpu``), the interleaved
order of runs (``rounds``), a minimal HTTP/1.1 client (``rawhttp``), gateway keys and ledger
counts (``keys``) and one timed stream (``decode_stream``). Servers are started with the
repository's ``harness`` package."""
