"""ThirdEye-like rules engine: YAML configs, metrics from the store, detectors, alert state."""
