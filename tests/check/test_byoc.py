"""Locating BYOC modules on disk without importing them."""

from __future__ import annotations


import pytest

from mmarctl.check.byoc import check_path, find_module, search_dirs


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_search_dirs_are_the_root_then_existing_custom_folders(tmp_path):
    (tmp_path / "custom").mkdir()
    (tmp_path / "BYOC").mkdir()
    assert search_dirs(tmp_path) == [tmp_path, tmp_path / "custom", tmp_path / "BYOC"]


@pytest.mark.parametrize("layout,module,found", [
    ("a.py", "a", "a.py"),
    ("pkg/__init__.py", "pkg", "pkg/__init__.py"),
    ("pkg/__init__.py+pkg/mod.py", "pkg.mod", "pkg/mod.py"),
    ("ns/mod.py", "ns", "ns"),  # a namespace package
    ("a.py", "b", None),
])
def test_find_module(tmp_path, layout, module, found):
    for name in layout.split("+"):
        write(tmp_path / name)
    result = find_module(module, [tmp_path])
    assert result == (tmp_path / found if found else None)


@pytest.mark.parametrize("source", [
    "class Net:\n    pass\n",
    "def Net():\n    return 1\n",
    "Net = object\n",
    "Net: type = object\n",
    "from somewhere import Net\n",
    "from somewhere import Other as Net\n",
    "from somewhere import *\n",
    "def __getattr__(name):\n    return name\n",
    "try:\n    from x import Net\nexcept ImportError:\n    Net = None\n",
    "if True:\n    class Net:\n        pass\n",
])
def test_class_forms_that_count_as_defined(tmp_path, source):
    write(tmp_path / "custom" / "nets.py", "import tensorflow as tf\n" + source)
    assert check_path("nets.Net", tmp_path) is None


def test_class_missing(tmp_path):
    write(tmp_path / "nets.py", "class Other:\n    pass\n")
    assert check_path("nets.Net", tmp_path) == "module 'nets' (nets.py) defines no 'Net'"


def test_module_on_sys_path_is_accepted_without_reading_it(tmp_path):
    # `json` is found on sys.path; its contents are not inspected.
    assert check_path("json.NoSuchClass", tmp_path) is None


def test_module_missing_names_where_it_looked(tmp_path):
    (tmp_path / "custom").mkdir()
    message = check_path("mine.sub.Net", tmp_path)
    assert message == ("cannot find module 'mine.sub' for path 'mine.sub.Net' (looked in the "
                       "MMAR root, custom/; put mine/sub.py in the MMAR's custom/ folder)")


def test_not_dotted(tmp_path):
    assert check_path("Net", tmp_path) == "path 'Net' must be module.Class"


def test_syntax_error_has_file_and_line(tmp_path):
    write(tmp_path / "custom" / "nets.py", "x = 1\nclass Net(:\n")
    assert check_path("nets.Net", tmp_path).startswith("custom/nets.py:2: syntax error")


def test_undecodable_file(tmp_path):
    (tmp_path / "nets.py").write_bytes(b"\xff\xfe\x00bad")
    assert check_path("nets.Net", tmp_path).startswith("cannot read nets.py")


# -- what train refuses in a BYOC class (mmarctl.check.byoc_contract) ----------------------

from broken_mmars import mmar, spleen  # noqa: E402,F401 - fixtures

from mmarctl.check.byoc_contract import byoc_problems  # noqa: E402
from mmarctl.check.byoc_source import SourceReader  # noqa: E402

_LOSS_CALL = "    def __call__(self, y_true, y_pred):\n        return 0.0\n"


def refusals(root, path, args=None, family="losses", kind="train"):
    """byoc_problems for an entry at ``train.loss`` (or the family's) of the MMAR ``root``;
    the same for the training and the validation config (``kind`` is kept to say so)."""
    return byoc_problems(SourceReader(root), family, path, args, "entry")


def test_closed_library_import_is_named_at_its_line(tmp_path):
    write(tmp_path / "custom" / "my_loss.py", "import numpy as np\n"
          "from ai4med.components.losses.loss import Loss\n\nclass MyDice(Loss):\n    pass\n")
    assert refusals(tmp_path, "my_loss.MyDice") == [(
        "entry.path", "custom/my_loss.py:2: imports ai4med, Clara 3.x's closed library, which "
        "mmarctl cannot load; port MyDice to mmarctl's component contract "
        "(docs/components.md)")]


def test_closed_library_imported_by_a_local_helper_module(tmp_path):
    write(tmp_path / "custom" / "helpers.py", "import ai4med.utils\n")
    write(tmp_path / "custom" / "my_loss.py",
          "from helpers import thing\n\nclass MyDice:\n" + _LOSS_CALL)
    [(where, message)] = refusals(tmp_path, "my_loss.MyDice")
    assert message.startswith("custom/helpers.py:1: imports ai4med")


@pytest.mark.parametrize("source", [
    # guarded, or only run when called
    "try:\n    import ai4med\nexcept ImportError:\n    ai4med = None\n",
    "def load():\n    import ai4med\n",
    "if False:\n    import ai4med\n",
])
def test_closed_library_imports_that_need_not_run_are_not_refused(tmp_path, source):
    write(tmp_path / "my_loss.py", source + "\nclass MyDice:\n" + _LOSS_CALL)
    assert refusals(tmp_path, "my_loss.MyDice") == []


def test_a_closed_library_the_mmar_ships_is_not_refused(tmp_path):
    write(tmp_path / "ai4med" / "__init__.py")
    write(tmp_path / "my_loss.py", "import ai4med\n\nclass MyDice:\n" + _LOSS_CALL)
    assert refusals(tmp_path, "my_loss.MyDice") == []


def test_unknown_argument_names_what_init_takes_and_a_close_match(tmp_path):
    write(tmp_path / "custom" / "t.py", "class Noise:\n    def __init__(self, fields, sigma=1):\n"
          "        pass\n\n    def __call__(self, sample, rng):\n        return sample\n")
    assert refusals(tmp_path, "t.Noise", {"fields": "image", "sigmma": 2},
                    family="transforms") == [(
        "entry.args.sigmma", "unknown argument 'sigmma' for t.Noise (its __init__ at "
        "custom/t.py:2 takes fields, sigma; did you mean 'sigma'?)")]


def test_a_class_without_init_takes_no_arguments(tmp_path):
    write(tmp_path / "my_loss.py", "class MyDice:\n" + _LOSS_CALL)
    assert refusals(tmp_path, "my_loss.MyDice", {"smooth": 1}) == [(
        "entry.args.smooth", "unknown argument 'smooth' for my_loss.MyDice (it has no __init__, "
        "nor do its bases, so it takes no arguments)")]


def test_missing_required_arguments_positional_and_keyword_only(tmp_path):
    write(tmp_path / "my_loss.py", "class MyDice:\n    def __init__(self, a, b=1, *, c, d=2):\n"
          "        pass\n\n" + _LOSS_CALL)
    assert refusals(tmp_path, "my_loss.MyDice", {"b": 3}) == [
        ("entry.args", f"my_loss.MyDice: missing argument {name!r} (its __init__ at "
         "my_loss.py:2 gives it no default)") for name in ("a", "c")]
    assert refusals(tmp_path, "my_loss.MyDice", {"a": 1, "c": 2, "d": 3}) == []


def test_kwargs_accept_any_argument_but_required_ones_are_still_needed(tmp_path):
    write(tmp_path / "my_loss.py", "class MyDice:\n    def __init__(self, smooth, **rest):\n"
          "        pass\n\n" + _LOSS_CALL)
    assert refusals(tmp_path, "my_loss.MyDice", {"smooth": 1, "anything": 2}) == []
    assert [w for w, _ in refusals(tmp_path, "my_loss.MyDice", {"anything": 2})] == ["entry.args"]


def test_init_and_call_inherited_from_a_base_in_another_local_module(tmp_path):
    write(tmp_path / "custom" / "bases.py", "class Base:\n    def __init__(self, smooth=1):\n"
          "        pass\n\n" + _LOSS_CALL)
    write(tmp_path / "custom" / "my_loss.py", "from bases import Base\n\nclass MyDice(Base):\n"
          "    pass\n")
    assert refusals(tmp_path, "my_loss.MyDice", {"smooth": 2}) == []
    [(where, message)] = refusals(tmp_path, "my_loss.MyDice", {"smoth": 2})
    assert where == "entry.args.smoth"
    assert "its __init__ at custom/bases.py:2 takes smooth; did you mean 'smooth'?" in message


def test_an_mmarctl_base_is_read_from_mmarctl_source(tmp_path):
    # Transform gives __call__; Component's __init__ takes **config.
    write(tmp_path / "t.py", "from mmarctl.runtime.transforms.base import Transform\n\n"
          "class Noise(Transform):\n    pass\n")
    assert refusals(tmp_path, "t.Noise", {"any": 1}, family="transforms") == []
    # FieldsTransform's __init__ takes fields only.
    write(tmp_path / "t.py", "import mmarctl.runtime.transforms.base as base\n\n"
          "class Noise(base.FieldsTransform):\n    pass\n")
    assert [w for w, _ in refusals(tmp_path, "t.Noise", {"fields": "image", "std": 1},
                                   family="transforms")] == ["entry.args.std"]


@pytest.mark.parametrize("source", [
    "import tensorflow as tf\n\nclass MyDice(tf.keras.losses.Loss):\n    pass\n",
    "from somewhere import Base\n\nclass MyDice(Base):\n    pass\n",
    "import functools\n\n@functools.total_ordering\nclass MyDice:\n    pass\n",
    "class MyDice(metaclass=type):\n    pass\n",
    "try:\n    from x import MyDice\nexcept ImportError:\n    class MyDice:\n        pass\n",
    "def MyDice(**args):\n    return None\n",
    "class MyDice:\n    __call__ = staticmethod(len)\n    __init__ = object.__init__\n",
])
def test_silent_where_the_source_cannot_tell(tmp_path, source):
    write(tmp_path / "my_loss.py", source)
    assert refusals(tmp_path, "my_loss.MyDice", {"bogus": 1}) == []


@pytest.mark.parametrize("family,kind,source,missing", [
    ("losses", "train", "class C:\n    def compute(self, p, t):\n        pass\n",
     "has no __call__: mmarctl calls a loss as loss(y_true, y_pred), returning a scalar "
     "tensor; Clara's compute() is not called (see docs/components.md#losses)"),
    ("networks", "train", "class C:\n    pass\n",
     "has no build(): mmarctl calls a network as network.build(spatial_dims, in_channels), "
     "returning a keras.Model (see docs/components.md#networks)"),
    ("transforms", "validation", "class C:\n    def transform(self, ctx):\n        pass\n",
     "has no __call__: mmarctl calls a transform as transform(sample, rng), returning the "
     "sample dict; Clara's transform() is not called (see mmarctl/runtime/transforms/base.py)"),
    ("metrics", "train", "class C:\n    def update(self, s):\n        pass\n",
     "has no result(), reset(): mmarctl calls a metric as update(sample); result(); reset() "
     "(see docs/components.md#metrics)"),
])
def test_a_class_without_the_method_mmarctl_calls(tmp_path, family, kind, source, missing):
    write(tmp_path / "m.py", source)
    assert refusals(tmp_path, "m.C", family=family, kind=kind) == [
        ("entry.path", f"m.C (m.py:1) {missing}")]


def test_a_metric_without_reset_is_refused_for_validate_too(tmp_path):
    """The runtime asks update, result and reset of every metric when it builds one
    (mmarctl.runtime.component_contracts): check says what it will refuse, for either verb."""
    write(tmp_path / "m.py", "class C:\n    def update(self, s):\n        pass\n\n"
          "    def result(self):\n        return 0\n")
    for kind in ("validation", "train"):
        assert "has no reset()" in refusals(tmp_path, "m.C", family="metrics", kind=kind)[0][1]


def test_check_reports_at_the_config_entry(mmar):
    """mmarctl check puts the refusal at the entry's JSON path; an MMAR module only."""
    from broken_mmars import check_line, custom_code, edit_json

    custom_code(mmar, "my_loss", "class MyDice:\n" + _LOSS_CALL)
    edit_json(mmar / "config" / "config_train.json", lambda c: c["train"].update(
        loss={"path": "my_loss.MyDice", "args": {"smooth": 1}}))
    assert check_line(mmar) == (
        "config/config_train.json: train.loss.args.smooth: unknown argument 'smooth' for "
        "my_loss.MyDice (it has no __init__, nor do its bases, so it takes no arguments)")
