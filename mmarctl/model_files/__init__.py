"""What an MMAR's ``models/`` folder holds, read from the files themselves, without TensorFlow.

``mmarctl check`` (and the runtime, before it loads anything) use this to tell mmarctl's TF2
object checkpoints from Clara's TF1 Saver checkpoints, frozen graphs (plain or TF-TRT),
SavedModels and ONNX files, and to read a graph's input/output nodes, layout and shape.
Modules: :mod:`.protowire` (protocol-buffer wire format), :mod:`.tf_table` (checkpoint
``.index`` tables), :mod:`.graph_info` (GraphDef / MetaGraphDef summaries),
:mod:`.inventory` (one :class:`ModelFile` per artifact, with what each verb can do with it).
"""

from mmarctl.model_files.inventory import ModelFile, describe_models, scan_model, scan_models

__all__ = ["ModelFile", "describe_models", "scan_model", "scan_models"]
