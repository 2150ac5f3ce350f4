"""satsr.viz.selection: which frame and bands a picture shows."""

from satsr.viz.selection import choose_bands


def test_natural_colour_from_band_names():
    assert choose_bands(3, None, ["B2 blue", "B3 green", "B4 red"]) == [2, 1, 0]
    assert choose_bands(4, None, ["a", "b", "c", "d"]) == [0, 1, 2]
    assert choose_bands(3, [0, 1, 2], ["B2 blue", "B3 green", "B4 red"]) == [0, 1, 2]
