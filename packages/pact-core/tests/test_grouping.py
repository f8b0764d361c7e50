from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from pact_core.grouping import from_patches, group_logits, grouped_shape, to_patches, ungroup


@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    group=st.sampled_from([1, 2, 4, 8]),
)
def test_group_then_ungroup_gives_patch_means(height: int, width: int, group: int) -> None:
    logits = torch.randn(2, height, width, dtype=torch.float64)
    grouped = group_logits(logits, group)
    assert grouped.shape == (2, *grouped_shape(height, width, group))
    back = ungroup(grouped, group, height, width)
    assert back.shape == logits.shape
    for i in range(0, height, group):
        for j in range(0, width, group):
            patch = logits[:, i : i + group, j : j + group]
            expected = patch.mean(dim=(1, 2))
            torch.testing.assert_close(grouped[:, i // group, j // group], expected)
            value = grouped[:, i // group, j // group].view(-1, 1, 1)
            assert torch.all(back[:, i : i + group, j : j + group] == value)


def test_grouping_reduces_the_number_of_latent_variables() -> None:
    # 32x32 input: 32*32 + 16*16 + 8*8 = 1344 latents, 336 / 84 / 21 after grouping.
    counts = {
        g: sum(grouped_shape(s, s, g)[0] * grouped_shape(s, s, g)[1] for s in (32, 16, 8))
        for g in (1, 2, 4, 8)
    }
    assert counts == {1: 1344, 2: 336, 4: 84, 8: 21}


def test_patches_round_trip() -> None:
    u = torch.randn(2, 3, 7, 5)
    folded = to_patches(u, 4)
    assert folded.shape == (2, 3 * 16, 2, 2)
    assert torch.equal(from_patches(folded, 4, 7, 5), u)
