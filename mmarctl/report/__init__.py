"""Pictures and pages a run leaves to look at (no TensorFlow; matplotlib only when drawing)."""
