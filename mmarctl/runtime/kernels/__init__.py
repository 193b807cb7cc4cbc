"""mmarctl's own CPU kernels for TensorFlow, compiled from C++ on first use.

They fuse what TensorFlow only offers as chains of element-wise operations (PReLU: one
pass each way instead of five forward and eight backward). :mod:`.build` compiles and
caches them and falls back to plain operations wherever they cannot be used; each kernel
has a Python module that calls it and registers its gradient (:mod:`.prelu`).
"""
