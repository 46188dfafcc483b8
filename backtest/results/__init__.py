"""The run folder (written and read back in one place), the metrics, the significance tests and the trial ledger."""
