import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentcodec.entropy.cdf import CdfTables, quantize_pmf
from latentcodec.entropy.conditional import TABLES_FILE, build_tables, shipped_tables
from latentcodec.entropy.distributions import FAMILIES


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=300))
def test_quantized_cdf_is_valid_and_keeps_every_symbol(pmf):
    cdf = quantize_pmf(np.array(pmf))
    assert cdf[0] == 0 and cdf[-1] == 1 << 16 and len(cdf) == len(pmf) + 1
    assert (np.diff(cdf) >= 1).all()


def test_quantized_cdf_is_close_to_the_pmf():
    pmf = np.exp(-np.abs(np.arange(-40, 41)) / 5.0)
    pmf /= pmf.sum()
    freq = np.diff(quantize_pmf(pmf)) / 65536
    kl = np.sum(pmf * np.log2(pmf / freq))
    assert kl < 1e-4  # bits per symbol lost to quantization


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_shipped_tables_are_what_the_builder_makes_here(family):
    scale_table, shipped = shipped_tables(family)
    fresh = build_tables(family, scale_table)
    for a, b in zip(shipped, fresh):
        np.testing.assert_array_equal(a, b)
    shipped.validate()
    assert TABLES_FILE.stat().st_size < 400_000


def test_tables_are_integers_and_unit_width_tables_stay_narrow():
    _, tables = shipped_tables("gaussian")
    assert all(a.dtype == np.int32 for a in tables)
    assert tables.lengths[0] == 5  # scale 0.11: {-1, 0, 1} plus the escape


def test_validate_rejects_broken_tables():
    cdfs = np.array([[0, 30000, 20000, 65536]], dtype=np.int32)
    with pytest.raises(ValueError, match="table 0"):
        CdfTables(cdfs, np.array([4], np.int32), np.array([0], np.int32)).validate()


def test_tables_round_trip_through_their_frequencies():
    tables = CdfTables.from_pmfs([np.ones(3), np.array([1e-9, 1.0]), np.arange(1.0, 40.0)], [0.0, 0.0, 0.0], [0, -1, 5])
    freqs = tables.frequencies()
    assert freqs.dtype == np.uint16 and freqs.max() > 60000  # the near-certain symbol of table 1
    again = CdfTables.from_frequencies(freqs, tables.lengths, tables.offsets)
    assert all(np.array_equal(a, b) for a, b in zip(again, tables))
