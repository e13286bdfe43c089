"""Desired state from files: YAML with positions, the schema, the model, import."""
