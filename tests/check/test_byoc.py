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
