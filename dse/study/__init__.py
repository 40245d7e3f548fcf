"""The study layer: an Optuna study is the sweep's definition, queue and results (docs/sweeps.md)."""
