"""Images of the wrong size get one line naming the size the CLIP takes, not a tensor-size mismatch."""

from __future__ import annotations

import pytest
import torch

from hicropl.errors import DataError
from hicropl.methods import ClassSet, build_method


def test_wrong_image_size_names_the_expected_size(tiny_backbone) -> None:
    size = tiny_backbone.preprocessing.image_size
    with pytest.raises(DataError, match=rf"takes images of shape \[batch, 3, {size}, {size}\] \({size} px\), not "):
        tiny_backbone.encode_image(torch.randn(2, 3, 224, 224))
    method = build_method("coop", tiny_backbone, ClassSet(("cat", "dog")), {})
    with pytest.raises(DataError, match=rf"resize them to {size} px first"):
        method(torch.randn(2, 3, size + 1, size))
    with pytest.raises(DataError, match=rf"not \[3, {size}, {size}\]"):  # a single image without its batch dimension
        tiny_backbone.encode_image(torch.randn(3, size, size))
    assert tiny_backbone.encode_image(torch.randn(2, 3, size, size)).shape[0] == 2
