"""Training: the framework-neutral loop (:mod:`.contract`), the TensorFlow engine
(:mod:`.tf_engine`), mmarctl's callbacks and TensorBoard summaries."""
