"""The model registry and the fixtures' TinySR."""

import numpy as np
import pytest
import torch

from lpfk import models
from tests.conftest import DATA


def test_tinysr_reproduces_the_fixture_output():
    model = models.load("tinysr", DATA / "lam_a" / "model_state_dict.pt", scale=4, feats=8, blocks=2)
    x = torch.from_numpy(np.load(DATA / "lam_a" / "input_lr.npy"))[None]
    with torch.no_grad():
        y = model(x)
    np.testing.assert_array_equal(y.numpy(), np.load(DATA / "lam_a" / "sr_output.npy"))


def test_registry_errors(tmp_path):
    assert "tinysr" in models.list_models()
    with pytest.raises(ValueError, match="unknown model 'nope'; registered: .*tinysr"):
        models.create("nope")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        models.load("tinysr", bad)
    with pytest.raises(ValueError, match="is registered twice"):
        models.register("tinysr")(object)
