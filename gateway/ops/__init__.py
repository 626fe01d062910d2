"""What operators see: Prometheus metrics and the engine's observers, the ops HTTP endpoints,
and the one log line per final status."""
