"""Clara AutoML: the search annotations of training configs (:mod:`.space`), the concrete
config of a search point (:mod:`.concrete`), ``config_automl.json`` (:mod:`.settings`) and the
study that runs trials on Optuna (:mod:`.study`, :mod:`.trials`, :mod:`.results`).

The annotation layer is plain JSON work and never imports TensorFlow: ``check`` uses it.
"""
