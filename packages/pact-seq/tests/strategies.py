"""Hypothesis strategies shared by the tests, named as nouns."""

from __future__ import annotations

from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**31 - 1)
bit_counts = st.integers(min_value=1, max_value=70)
number_counts = st.integers(min_value=2, max_value=7)
digit_counts = st.integers(min_value=1, max_value=6)
batch_sizes = st.integers(min_value=1, max_value=40)
odd_windows = st.integers(min_value=1, max_value=15).map(lambda k: 2 * k - 1)
values = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)


@st.composite
def smoothing_problems(draw: st.DrawFn) -> tuple[list[float], int, int]:
    """A series, an odd window no longer than it, and a degree below the window."""
    window = draw(odd_windows)
    series = draw(st.lists(values, min_size=window, max_size=window + 40))
    polyorder = draw(st.integers(min_value=0, max_value=min(4, window - 1)))
    return series, window, polyorder
