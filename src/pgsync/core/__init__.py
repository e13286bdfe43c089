"""The pure core: the model, changes, diff, plan, safety, drift and masking; no I/O."""
