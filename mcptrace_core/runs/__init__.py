"""The run manager: spawn, supervise, buffer, stream and stop tracing processes (backend-agnostic)."""
