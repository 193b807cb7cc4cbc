"""SegResnet says what runs when its args do not fit each other: a group count that does
not divide the filters (reduced there, a warning) and a missing blocks_up for a blocks_down
of other than 4 levels (the default is blamed, not a value the user never wrote)."""

from __future__ import annotations

import warnings

import pytest

from mmarctl.errors import ConfigError
from mmarctl.runtime.networks.segresnet import SegResnet


def test_group_count_not_dividing_the_filters_warns():
    with pytest.warns(UserWarning, match=r"use_group_normG 8 does not divide every level's "
                                         r"filters .*6 groups on 6 filters, 6 groups on 12"):
        SegResnet(blocks_down="1,2,2", blocks_up="1,1", init_filters=6, use_group_normG=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dividing counts, or batch norm: nothing to say
        SegResnet(blocks_down="1,2,2", blocks_up="1,1", init_filters=8, use_group_normG=8)
        SegResnet(blocks_down="1,2", blocks_up="1", init_filters=6, use_group_norm=False)


def test_missing_blocks_up_blames_the_default():
    with pytest.raises(ConfigError, match=r"blocks_up must be set for a blocks_down of 3 "
                                          r"levels: its default '1,1,1' fits 4 levels"):
        SegResnet(blocks_down="1,2,2")
    with pytest.raises(ConfigError, match=r"Received: blocks_up='1,1,1'"):
        SegResnet(blocks_down="1,2,2", blocks_up=",".join(["1"] * 3))  # written: as before
    SegResnet(blocks_down="1,2,2,4")  # the default fits
