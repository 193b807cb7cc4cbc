"""A TF1 .meta held to the .index/.data pair beside it, without TensorFlow, as Saver.restore
holds them (mmarctl.model_files.saver_graph).

Each case builds two small Saver checkpoints in private graphs and restores the first's pair
into the second's graph with TensorFlow: ``restore_mismatch`` must say something exactly when
that restore fails, and nothing when it works.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mmarctl.model_files.saver_graph import restore_mismatch, saver_tensors
from mmarctl.model_files.tf_table import checkpoint_entries

tf = pytest.importorskip("tensorflow")
v1 = tf.compat.v1


def _save(folder: Path, variables: dict[str, tuple[int, ...]], resource: bool) -> Path:
    """A Saver checkpoint of ``variables`` (name -> shape) with its meta graph."""
    folder.mkdir(parents=True)
    graph = tf.Graph()
    with graph.as_default():
        for name, shape in variables.items():
            v1.get_variable(name, shape=shape, use_resource=resource,
                            initializer=v1.ones_initializer())
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            saver.save(session, str(folder / "model.ckpt"))
    return folder / "model.ckpt"


def _tensorflow_restores(meta: Path, prefix: Path) -> bool:
    graph = tf.Graph()
    with graph.as_default():
        saver = v1.train.import_meta_graph(str(meta), clear_devices=True)
        with v1.Session(graph=graph) as session:
            try:
                saver.restore(session, str(prefix))
            except (tf.errors.OpError, ValueError):
                return False
    return True


PAIR = {"conv1/kernel": (3, 3, 1, 4), "conv2/kernel": (1, 1, 4, 2)}


@pytest.mark.parametrize("graph_variables, resource, said", [
    (PAIR, False, None),
    (PAIR, True, None),
    # another network's layer names: the Saver reads a tensor the pair does not hold
    ({"conv1/kernel": (3, 3, 1, 4), "head/kernel": (1, 1, 4, 2)}, False,
     "its .meta graph restores head/kernel, which the checkpoint does not hold; "
     "it holds conv2/kernel, which the graph does not restore: the .meta and the .index/.data "
     "pair come from different runs or networks"),
    # another class count: a reference variable's Assign checks the shape
    ({"conv1/kernel": (3, 3, 1, 4), "conv2/kernel": (1, 1, 4, 3)}, False,
     "its .meta graph restores conv2/kernel into a variable of shape "
     "(1, 1, 4, 3), but the checkpoint's conv2/kernel has shape (1, 1, 4, 2): the .meta and "
     "the .index/.data pair come from different runs or networks"),
    # a resource variable takes any shape: TensorFlow restores it, so nothing is said
    ({"conv1/kernel": (3, 3, 1, 4), "conv2/kernel": (1, 1, 4, 3)}, True, None),
    # a graph that restores fewer tensors than the pair holds restores fine
    ({"conv1/kernel": (3, 3, 1, 4)}, False, None),
])
def test_said_exactly_when_tensorflow_cannot_restore(tmp_path, graph_variables, resource, said):
    prefix = _save(tmp_path / "pair", PAIR, resource)
    other = _save(tmp_path / "graph", graph_variables, resource)
    meta = tmp_path / "mixed" / "model.ckpt.meta"
    meta.parent.mkdir()
    shutil.copy(f"{other}.meta", meta)
    assert restore_mismatch(meta, checkpoint_entries(Path(f"{prefix}.index"))) == said
    assert _tensorflow_restores(meta, prefix) is (said is None)


def test_a_clara_graph_restores_its_adam_slots_too(tmp_path):
    """The Clara-like graph of the tests (Adam in the meta graph): every tensor of its pair,
    slots and beta powers included, is one the Saver reads."""
    import tf1_artifacts

    tf1_artifacts.build(tmp_path, dims=3, channels=1, classes=2, seed=5)
    tensors = saver_tensors(tmp_path / "model.ckpt.meta")
    entries = checkpoint_entries(tmp_path / "model.ckpt.index")
    assert sorted(tensors.names) == sorted(entry.name for entry in entries)
    assert "conv2/kernel/Adam_1" in tensors.names and "beta1_power" in tensors.names


def test_a_graph_without_a_saver_is_not_held_to_anything(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        v1.placeholder(tf.float32, (None, 1), name="NV_MODEL_INPUT")
        meta = tmp_path / "model.ckpt.meta"
        v1.train.export_meta_graph(str(meta), graph=graph)
    assert saver_tensors(meta) is None
    assert restore_mismatch(meta, []) is None


def test_a_file_that_is_no_graph_is_left_to_the_graph_reader(tmp_path):
    meta = tmp_path / "model.ckpt.meta"
    meta.write_text("this is not a meta graph\n")
    assert restore_mismatch(meta, []) is None


def test_the_memory_map_is_closed_after_reading(tmp_path, monkeypatch):
    """Nothing read out of the .meta keeps a view into its memory map, so the map closes
    when the reading ends (check reads every checkpoint of models/), not at some later GC."""
    import contextlib
    import mmap

    import tf1_artifacts
    from mmarctl.model_files import protowire

    closed = []

    @contextlib.contextmanager
    def mapped(handle):
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mapping)
        try:
            yield view
        finally:
            view.release()
            try:
                mapping.close()
                closed.append(True)
            except BufferError:  # a slice of it still held
                closed.append(False)

    monkeypatch.setattr(protowire, "mapped", mapped)
    tf1_artifacts.build(tmp_path, dims=3, channels=1, classes=2, seed=5)
    assert saver_tensors(tmp_path / "model.ckpt.meta").names
    assert closed == [True]
