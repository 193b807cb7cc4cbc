"""The TensorFlow runtime. Everything that imports TensorFlow, Keras or Horovod lives here.

Nothing outside this package imports it at module level; verbs import it inside their
command function. See docs/architecture.md for the contracts between its parts.
"""
