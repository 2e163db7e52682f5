"""What the engine and the API shim share at run time, below both of them.

The shim may not import ``esl_dagster`` and the engine may not import FastAPI, yet both write the
same JSON log lines and the same OpenTelemetry traces, read the same run tags and know the same
offline voices. That code lives here once: :mod:`esl_common.tracing` (the OTLP set-up, W3C
``traceparent`` values, the trace ids of log lines), :mod:`esl_common.json_logs` (one JSON object
per log record), :mod:`esl_common.launch_ledger` (the launch ledger's run tags) and
:mod:`esl_common.espeak_voices` (the espeak-ng voice table). This package imports neither
Dagster, FastAPI, ``esl_dagster`` nor ``api_shim``.
"""
