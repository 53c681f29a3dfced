"""Scalar functions shared by the vegetation and soil models (pure, elementwise)."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

TK0 = 273.15  # K


def f_lloyd_taylor(tk):
    """Respiration temperature factor, 1 at 10 degC (casa.md §3.3). tk in K."""
    return jnp.exp(308.56 * (1.0 / 56.02 - 1.0 / ((tk + 46.02) - TK0)))


def f_temp_decomp(q10, tk):
    """Decomposition temperature factor q10**((T-35 degC)/10) (casa.md §4.1)."""
    return q10 ** (0.1 * ((tk - TK0) - 35.0))


def f_water_decomp(fwps):
    """Kelly et al. (2000) moisture factor, 1 at fwps = 0.55 (casa.md §4.1)."""
    return (((fwps - 1.70) / (0.55 - 1.70)) ** 6.6481
            * ((fwps - (-0.007)) / (0.55 - (-0.007))) ** 3.22)


def avgsoil(froot, tsoil, moist, frznmoist, sfc, swilt):
    """Root-weighted soil state (casa.md §3.2).

    froot (n, 6); tsoil, moist, frznmoist (..., 6, n), layers on the second last axis (one
    day, or a year of days at once); sfc, swilt (n,).
    Returns tsoilavg (K), moistavg, frznmoistavg (m3 m-3), btran (may be < 0, quirk Q6),
    each (..., n).
    """
    fr = froot.T
    mcap = jnp.minimum(sfc, moist)
    tsoilavg = _layer_sum(fr * tsoil)
    moistavg = _layer_sum(fr * mcap)
    frznavg = _layer_sum(fr * frznmoist)
    btran = _layer_sum(fr * (mcap - swilt) / (sfc - swilt))
    return tsoilavg, moistavg, frznavg, btran


def _layer_sum(x):
    # sequential layer sum, the reference's accumulation order
    s = x[..., 0, :]
    for k in range(1, x.shape[-2]):
        s = s + x[..., k, :]
    return s
