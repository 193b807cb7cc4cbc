"""Clara's --set run_id=/trainconf=/workers= beside the option of the same meaning."""

from __future__ import annotations

import pytest

from mmarctl.errors import UsageError
from mmarctl.search.automl import AutomlRequest, _same_as_clara_keys
from mmarctl.workspace import Workspace


def _request(**options) -> AutomlRequest:
    return AutomlRequest(mmar=None, set_items=[], **options)


@pytest.mark.parametrize("clara,options,fragment", [
    ({"run_id": "a"}, {"run_id": "b"}, "--set run_id=a and --run-id b disagree"),
    ({"trainconf": "trn_autoML.json"}, {"config_train": "config/config_train.json"},
     "--set trainconf=trn_autoML.json and --config-train config/config_train.json disagree"),
    ({"workers": "0:1"}, {"worker_gpus": "0"}, "--set workers=0:1 and --worker-gpus 0"),
])
def test_two_forms_that_disagree_are_refused(tmp_path, clara, options, fragment):
    with pytest.raises(UsageError, match=fragment):
        _same_as_clara_keys(_request(**options), clara, Workspace(tmp_path))


def test_two_forms_that_agree_are_fine(tmp_path):
    _same_as_clara_keys(_request(run_id="a", config_train="config/trn_autoML.json"),
                        {"run_id": "a", "trainconf": "trn_autoML.json"}, Workspace(tmp_path))
