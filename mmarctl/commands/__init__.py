"""One module per verb. Each exposes ``register(app)`` and keeps its imports light:
heavy modules (TensorFlow, the runtime) are imported inside the command function."""
