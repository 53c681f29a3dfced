"""Property tests: the run-control and restart readers fail only with the project's errors on
garbage, and the model keeps pools non-negative and budgets closed under random valid forcing."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bgctestbed import diagnostics as dg
from bgctestbed.errors import BgcError
from bgctestbed.init import cold_start
from bgctestbed.io import testbed as tb
from bgctestbed.io.lst import read_lst
from bgctestbed.model import ModelConfig, run_year, to_jax
from bgctestbed.params.casa import casa_cell_params, default_casa_table
from bgctestbed.sites import Sites

FAST = settings(max_examples=25, deadline=None)
junk_line = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
                    max_size=40)
numberish = st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-10, 10)).map(str), max_size=12)
lines = st.lists(st.one_of(junk_line, numberish.map(", ".join)), max_size=25)


def _mutated(reference_dir, which, data):
    ls = (reference_dir / which).read_text().splitlines()
    i = data.draw(st.integers(0, len(ls)), "at")
    new = data.draw(lines, "lines")
    drop = data.draw(st.integers(0, 3), "drop")
    return "\n".join(ls[:i] + new + ls[i + drop:]) + "\n"


@FAST
@given(data=st.data())
def test_lst_reader_garbage(reference_dir, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("lst") / "f.lst"
    path.write_text(_mutated(reference_dir, "testbed_outputs/casa_cn/fcasacnp_clm_testbed.lst", data))
    try:
        read_lst(path)
    except BgcError:
        pass


@FAST
@given(data=st.data(), mimics=st.booleans())
def test_restart_readers_garbage(reference_dir, tmp_path_factory, data, mimics):
    which = "testbed_outputs/mimics_cn/mimicspool_out.csv" if mimics else "testbed_outputs/casa_cn/cnppool_out.csv"
    path = tmp_path_factory.mktemp("rs") / "r.csv"
    path.write_text(_mutated(reference_dir, which, data))
    try:
        (tb.read_mimics_restart if mimics else tb.read_casa_restart)(path, 12, 2)
    except BgcError:
        pass


def _sites(pft):
    n = len(pft)
    one = np.ones(n)
    return Sites(cellid=np.arange(1, n + 1), lat=one * 40.0, lon=one * 10.0, ilat=np.arange(1, n + 1),
                 ilon=np.ones(n, int), pft=np.asarray(pft), landarea=one * 1e10, sand=one * 0.4,
                 clay=one * 0.2, silt=one * 0.4, swilt=one * 0.1, sfc=one * 0.3, ssat=one * 0.45,
                 greenup=np.full(n, 100), fall=np.full(n, 280), phase0=np.full(n, 2),
                 ist=np.ones(n, int), iso=np.ones(n, int))


@FAST
@given(pft=st.lists(st.integers(1, 14).filter(lambda k: k != 11), min_size=1, max_size=2),
       seed=st.integers(0, 2**31 - 1), nitrogen=st.booleans())
def test_random_valid_forcing(pft, seed, nitrogen):
    """A year of random, plausible daily forcing: no pool kept non-negative goes negative, no
    value is non-finite, and the C and N budgets close."""
    rng = np.random.default_rng(seed)
    s = _sites(pft)
    n = s.n
    table = default_casa_table()
    p = casa_cell_params(table, s)
    cfg = ModelConfig("casa", nitrogen, budget_terms=True)
    st0 = jax.tree.map(jnp.asarray, cold_start(table, p, s.phase0, cfg))
    f = {"cgpp": rng.uniform(0, 15, (365, n)), "tairk": rng.uniform(250, 310, (365, n)),
         "ndep": rng.uniform(0, 0.01, (365, n)), "tsoil": rng.uniform(255, 305, (365, 6, n)),
         "moist": rng.uniform(0.05, 0.4, (365, 6, n)), "frznmoist": rng.uniform(0, 0.05, (365, 6, n))}
    st1, acc, _ = run_year(st0, {k: jnp.asarray(v) for k, v in f.items()}, to_jax(p), cfg)
    acc = {k: np.asarray(v) for k, v in acc.items()}
    for name in ("cplant", "nplant", "clitter", "nlitter", "csoil", "nsoil"):
        a = np.asarray(getattr(st1, name))
        assert np.all(np.isfinite(a)) and np.all(a >= 0), name
    for b in (dg.carbon_budget(st0, st1, acc, p), dg.nitrogen_budget(st0, st1, acc, p, nitrogen=nitrogen)):
        assert np.all(dg.closure(b) <= 1e-10), (b.residual, b.throughput)
