"""Output analyzers: bpftrace text and ``-f json`` output, BCC/libbpf-tools tables and histograms.

Parsers turn raw output into ``mcptrace_core.analysis.ParsedOutput``; ``analysis`` turns that into
percentiles, top keys, time series and anomalies; the ``analyze_output`` tool and ``mcptrace analyze``
expose it. Nothing heavy is imported here: matplotlib and numpy load only when a chart or a large
table needs them.
"""
