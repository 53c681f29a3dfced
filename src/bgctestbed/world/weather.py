"""Deterministic daily forcing generator of the embedded world (numpy only).

For one calendar year and seed it produces the reference met variables (xcgpp, xtairk, ndep,
xtsoil, xmoist, xfrznmoist for 6 layers), one 365-day year at a time. Everything below is a
SYNTHETIC weather and land-surface model driven by real climatologies and real global series:

- air temperature: ERA5 2000-2025 monthly means interpolated to days with a mean-preserving
  harmonic fit, shifted by the warming pattern times the HadCRUT5 global anomaly of the year
  (relative to 2000-2022), plus AR(1) noise (r = 0.7) that is spatially coherent over about
  1500 km (random values on a 15-degree node grid, bilinearly spread) with a local share.
- precipitation: monthly climatology times a yearly lognormal factor (sigma 0.15); wet days
  with probability 1 - exp(-P/(ndays*3 mm)); exponential amounts (monthly mean preserved).
- shortwave: top-of-atmosphere radiation (FAO-56) times a transmissivity that falls with
  monthly rainfall and on wet days (0.75 - 0.25 (1 - exp(-P/100 mm)) - 0.08 wet); PAR = 0.48 Rs; Priestley-Taylor potential ET.
- snow (T < 0 degC) with degree-day melt; a 1 m soil bucket between the residual water
  content (half the wilting point) and field capacity, plus a drainable store up to
  saturation; layers 5-6 follow the bucket with 60- and 180-day lags.
- soil temperature: each layer relaxes toward snow-insulated air temperature with a time
  constant that reproduces the damping of the annual wave at its depth (damping depth 2.2 m);
  frozen share of water = clip(-T/2 degC, 0, 0.9).
- GPP: light-use efficiency, GPP = fCO2 eps (1 + 0.3 C4) fAPAR PAR f(T) beta with
  fAPAR from NDVI between its observed minimum and maximum following a 21-day growing-season
  index, fCO2 = 1 + 0.5 ln(CO2/CO2_2000).
- N deposition: natural + pattern x (NOx-N + NH3-N emissions of the year)/(year 2000), evenly
  over the days of the year.

A year is generated from a fixed climatological state on 1 January of the previous year,
after running that previous year, so every year can be regenerated alone (restarts) and gives
the same arrays as in a sequence.
"""

from __future__ import annotations

import numpy as np

from ..sites import NSOIL, Forcing
from .grid import DAYS_IN_MONTH, MONTH_OF_DAY

TFREEZE = 273.15
EPSILON = 1.0             # gC per MJ of absorbed PAR (tuned: 1901-1920 GPP about 106 PgC/yr)
C4_BOOST = 0.3
BETA_CO2 = 0.5            # fCO2 = 1 + BETA_CO2 ln(CO2/CO2_2000)
ROOT_DEPTH = 1.0          # m of the soil bucket
LAYER_MID = np.array([0.0125, 0.075, 0.23, 0.51, 1.29, 3.28])   # m, CLM5 -> CASA layers
DAMPING_DEPTH = 2.2       # m, annual temperature wave
OMEGA = 2 * np.pi / 365.0
TAU_SOIL = np.maximum(np.sqrt(np.exp(2 * LAYER_MID / DAMPING_DEPTH) - 1) / OMEGA, 2.0)
SNOW_DAMP = 50.0          # mm SWE e-folding of winter air-temperature signal
MELT = 3.0                # mm per degC per day
SWE_MAX = 2000.0
AR_T = 0.7
NODE_STEP = 15.0          # degrees between noise nodes
PRECIP_IAV = 0.15
SOIL_EVAP = 0.15          # share of potential ET that is bare-soil evaporation
SCEN_IAV = 0.1            # K, year-to-year global noise added after 2014


def daily_matrix() -> np.ndarray:
    """(365, 12) matrix mapping monthly means to a smooth periodic daily series whose means
    over the calendar months equal the monthly values exactly (harmonics 0..6)."""
    t = (np.arange(365) + 0.5) / 365.0
    cols = [np.ones(365)]
    for k in range(1, 6):
        cols += [np.cos(2 * np.pi * k * t), np.sin(2 * np.pi * k * t)]
    cols.append(np.cos(2 * np.pi * 6 * t))
    b = np.stack(cols, axis=1)                                     # (365, 12)
    a = np.zeros((12, 365))
    a[MONTH_OF_DAY, np.arange(365)] = 1.0 / DAYS_IN_MONTH[MONTH_OF_DAY]
    return b @ np.linalg.inv(a @ b)


def toa_radiation(lat: np.ndarray) -> np.ndarray:
    """Daily extraterrestrial radiation (MJ m-2 d-1), FAO-56 eq. 21; shape (365, n)."""
    j = np.arange(1, 366)[:, None]
    phi = np.deg2rad(lat)[None, :]
    dr = 1 + 0.033 * np.cos(2 * np.pi * j / 365)
    dec = 0.409 * np.sin(2 * np.pi * j / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1.0, 1.0))
    return (24 * 60 / np.pi * 0.0820 * dr
            * (ws * np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.sin(ws)))


def _node_weights(lat, lon):
    """Bilinear weights of each cell on the noise node grid, normalised to unit variance."""
    nlat = int(180 / NODE_STEP) + 1
    nlon = int(360 / NODE_STEP)
    y = (lat + 90.0) / NODE_STEP
    x = lon / NODE_STEP
    y0 = np.clip(np.floor(y).astype(int), 0, nlat - 2)
    x0 = np.floor(x).astype(int) % nlon
    fy, fx = y - y0, x - np.floor(x)
    idx = np.stack([y0 * nlon + x0, y0 * nlon + (x0 + 1) % nlon,
                    (y0 + 1) * nlon + x0, (y0 + 1) * nlon + (x0 + 1) % nlon], axis=1)
    w = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=1)
    w /= np.sqrt((w ** 2).sum(axis=1, keepdims=True))
    return idx, w, nlat * nlon


def _phi(z):
    """Standard normal CDF (logistic approximation, max error 0.01)."""
    return 1.0 / (1.0 + np.exp(-1.702 * z))


class WeatherGenerator:
    """Daily forcing for the cells of a world. `arrays` are the world file's arrays."""

    def __init__(self, arrays: dict, pft: np.ndarray):
        a = arrays
        self.n = n = a["tclim"].shape[1]
        lat = a["lat"]
        self.tclim_daily = daily_matrix() @ a["tclim"].astype(np.float64)        # degC
        self.pclim = a["pclim"].astype(np.float64)                                # mm/month
        self.ra = toa_radiation(lat)
        self.sigma_t = 1.0 + 3.5 * (np.abs(lat) / 90.0) ** 0.8
        self.pattern = a["warming_pattern"].astype(np.float64)
        idx, w, self.nnodes = _node_weights(lat, a["lon"])
        self.node_matrix = np.zeros((self.nnodes, n))
        for k in range(4):
            np.add.at(self.node_matrix, (idx[:, k], np.arange(n)), w[:, k])
        swilt, sfc, ssat = (a[k].astype(np.float64) for k in ("swilt", "sfc", "ssat"))
        self.theta_r = 0.5 * swilt
        self.wmax = (sfc - self.theta_r) * 1000.0 * ROOT_DEPTH
        self.xmax = (ssat - sfc) * 1000.0 * ROOT_DEPTH
        self.beta_a = 1.0 / (1000.0 * ROOT_DEPTH * 0.6 * (sfc - swilt))
        self.beta_b = (self.theta_r - swilt) / (0.6 * (sfc - swilt))
        self.ndvi_min = a["ndvi_min"].astype(np.float64)
        self.ndvi_max = np.maximum(a["ndvi_max"].astype(np.float64), self.ndvi_min)
        self.lue = EPSILON * (1 + C4_BOOST * a["c4"].astype(np.float64))
        tundra = pft == 18
        # cold ramp of the temperature response: arctic vegetation needs warmer days
        self.t_lo = np.where(tundra, 0.0, -8.0)
        self.t_hi = np.where(tundra, 20.0, 10.0)
        self.years = a["series_years"].astype(int)
        self.co2 = a["series_co2"]
        self.gmst = a["series_gmst"]
        self.gmst_base = float(a["series_gmst_base"])
        self.nemis = a["series_nemis"] / float(a["series_nemis_2000"])
        self.ndep_anth = a["ndep_anth_2000"].astype(np.float64)
        self.ndep_nat = a["ndep_natural"].astype(np.float64)
        self.co2_2000 = float(self.co2[self.years == 2000][0])
        self._clim_state = None
        self._cache = None
        self.k_soil = (1.0 / TAU_SOIL)[:, None]

    # ------------------------------------------------------------------ series
    def _iy(self, year):
        return int(year) - int(self.years[0])

    def co2_of(self, year) -> float:
        return float(self.co2[self._iy(year)])

    def dgmst(self, year, seed) -> float:
        """Global-mean temperature of `year` minus the 2000-2022 mean of the ERA5 baseline."""
        g = float(self.gmst[self._iy(year)]) - self.gmst_base
        if year > 2014:
            g += SCEN_IAV * np.random.default_rng([seed, int(year), 11]).standard_normal()
        return g

    def ndep_annual(self, year) -> np.ndarray:
        """N deposition of `year`, gN m-2 yr-1 per cell."""
        return self.ndep_nat + self.ndep_anth * float(self.nemis[self._iy(year)])

    # ------------------------------------------------------------------ weather
    def _spread(self, znodes):
        """(..., nnodes) node values -> (..., n) cell values (unit variance)."""
        return znodes @ self.node_matrix

    def _inputs(self, key, dg):
        """Daily air T (degC), precipitation (mm), PAR and PET (MJ, mm) for a year."""
        rng = np.random.default_rng(key)
        n, nn = self.n, self.nnodes
        # temperature noise: AR(1) in time, 75 % large-scale, 25 % local
        e = rng.standard_normal((365, nn))
        c = np.sqrt(1 - AR_T ** 2)
        for d in range(1, 365):
            e[d] = AR_T * e[d - 1] + c * e[d]
        noise = self._spread(e * np.sqrt(0.75))
        noise += np.sqrt(0.25) * rng.standard_normal((365, n), dtype=np.float32)
        ta = self.tclim_daily + (self.pattern * dg)[None, :] + self.sigma_t * noise
        # precipitation: monthly quantities first, then days
        fac = np.sqrt(0.7) * self._spread(rng.standard_normal(nn)) \
            + np.sqrt(0.3) * rng.standard_normal(n)
        fac = np.exp(PRECIP_IAV * fac - 0.5 * PRECIP_IAV ** 2)
        pm = self.pclim * fac                                            # (12, n) mm/month
        pwet = 1.0 - np.exp(-pm / (3.0 * DAYS_IN_MONTH[:, None]))
        amount = pm / (DAYS_IN_MONTH[:, None] * np.maximum(pwet, 1e-9))
        trans0 = 0.75 - 0.25 * (1.0 - np.exp(-pm / 100.0))
        zw = self._spread(rng.standard_normal((365, nn)) * np.sqrt(0.6))
        zw += np.sqrt(0.4) * rng.standard_normal((365, n), dtype=np.float32)
        wet = _phi(zw) < pwet[MONTH_OF_DAY]
        prec = -np.log1p(-rng.random((365, n)))
        prec *= amount[MONTH_OF_DAY]
        prec *= wet
        # radiation and potential evapotranspiration
        rs = self.ra * (trans0[MONTH_OF_DAY] - 0.08 * wet)
        es = 0.6108 * np.exp(17.27 * ta / (ta + 237.3))
        delta = 4098.0 * es / (ta + 237.3) ** 2
        rn = np.maximum(0.62 * rs - 1.0, 0.0)
        pet = (1.26 / 2.45) * delta / (delta + 0.066) * rn
        return ta, prec, 0.48 * rs, pet

    def _initial_state(self):
        n = self.n
        return {"w": 0.5 * self.wmax, "x": np.zeros(n), "swe": np.zeros(n),
                "phen": np.full(n, 0.5),
                "ts": np.repeat((self.tclim_daily.mean(0) + TFREEZE)[None], NSOIL, 0),
                "th5": self.theta_r + 0.5 * self.wmax / 1000.0,
                "th6": self.theta_r + 0.5 * self.wmax / 1000.0}

    def clim_state(self):
        """State on 1 January of the baseline climate (two spin-up years, fixed stream)."""
        if self._clim_state is None:
            st = self._initial_state()
            for k in range(3):
                ta, prec, _, pet = self._inputs([2 ** 31 - 1, k, 5], 0.0)
                st = self._run(st, ta, prec, pet)
            self._clim_state = st
        return {k: v.copy() for k, v in self._clim_state.items()}

    def _run(self, st, ta, prec, pet, par=None, fco2=1.0):
        """Daily loop of snow, bucket, phenology, soil temperature and, when `par` is given,
        GPP and the 6-layer soil outputs (returned with the new state)."""
        n = self.n
        w, x, swe, phen = st["w"].copy(), st["x"].copy(), st["swe"].copy(), st["phen"].copy()
        ts, th5, th6 = st["ts"].copy(), st["th5"].copy(), st["th6"].copy()
        wmax, xmax, ksoil = self.wmax, self.xmax, self.k_soil
        ba, bb, tr = self.beta_a, self.beta_b, self.theta_r
        inv_wmax = 1.0 / wmax
        record = par is not None
        if record:
            gpp = np.empty((365, n))
            xts = np.empty((365, NSOIL, n))
            xliq = np.empty((365, NSOIL, n))
            xfrz = np.empty((365, NSOIL, n))
            theta = np.empty((NSOIL, n))
            fice6 = np.empty((NSOIL, n))
            nmin, nrange = self.ndvi_min, self.ndvi_max - self.ndvi_min
            lue = self.lue * fco2
            tlo, tinv = self.t_lo, 1.0 / (self.t_hi - self.t_lo)
        mx, mn = np.maximum, np.minimum
        for d in range(365):
            t = ta[d]
            p = prec[d]
            snow = np.where(t < 0.0, p, 0.0)
            swe += snow
            melt = mn(swe, MELT * mx(t, 0.0))
            swe -= melt
            mn(swe, SWE_MAX, out=swe)
            w += p - snow + melt
            over = mx(w - wmax, 0.0)
            w -= over
            x += over
            x *= 0.8
            mn(x, xmax, out=x)
            teff = np.where(swe > 1.0, mn(t, 0.0) * np.exp(-swe / SNOW_DAMP), t)
            ts += (teff + TFREEZE - ts) * ksoil
            fice = mn(mx((TFREEZE - ts[2]) * 0.5, 0.0), 0.9)
            beta = mn(mx(ba * w + bb, 0.0), 1.0) * (1.0 - fice)
            # transpiration stops at the wilting point; bare-soil evaporation goes on slowly
            et = pet[d] * ((1.0 - SOIL_EVAP) * beta + SOIL_EVAP * inv_wmax * w)
            fromx = mn(et, x)
            x -= fromx
            w -= mn(et - fromx, w)
            phen += (mn(mx((t + 2.0) * (1.0 / 7.0), 0.0), 1.0) * mn(2.0 * beta, 1.0) - phen) \
                * (1.0 / 21.0)
            th = tr + (w + x) * (1.0 / (1000.0 * ROOT_DEPTH))
            th5 += (th - th5) * (1.0 / 60.0)
            th6 += (th - th6) * (1.0 / 180.0)
            if record:
                fapar = mn(mx(1.24 * (nmin + nrange * phen) - 0.168, 0.0), 0.95)
                ft = mn(mx((t - tlo) * tinv, 0.0), 1.0) * mn(mx((45.0 - t) * 0.1, 0.0), 1.0)
                gpp[d] = lue * fapar * par[d] * ft * beta
                xts[d] = ts
                theta[:4] = th
                theta[4] = th5
                theta[5] = th6
                np.subtract(TFREEZE, ts, out=fice6)
                fice6 *= 0.5
                np.clip(fice6, 0.0, 0.9, out=fice6)
                fice6 *= theta
                xfrz[d] = fice6
                np.subtract(theta, fice6, out=xliq[d])
        new = {"w": w, "x": x, "swe": swe, "phen": phen, "ts": ts, "th5": th5, "th6": th6}
        if record:
            return new, (gpp, xts, xliq, xfrz)
        return new

    # ------------------------------------------------------------------ public
    def _inputs_cached(self, seed, year):
        key = (int(seed), int(year), float(self.dgmst(year, seed)))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        val = self._inputs([seed, year, 1], key[2])
        self._cache = (key, val)
        return val

    def year(self, year: int, seed: int = 0) -> Forcing:
        """Forcing of one year: run year-1 from the climatological 1 January state, then
        `year`. Inputs of the last generated year are kept, so a sequence costs one set of
        weather inputs per year; results do not depend on what was generated before."""
        year = int(year)
        st = self.clim_state()
        st["ts"] += (self.pattern * self.dgmst(year - 1, seed))[None, :]
        ta, prec, _, pet = self._inputs_cached(seed, year - 1)
        st = self._run(st, ta, prec, pet)
        ta, prec, par, pet = self._inputs_cached(seed, year)
        fco2 = 1.0 + BETA_CO2 * np.log(self.co2_of(year) / self.co2_2000)
        _, (gpp, ts, liq, frz) = self._run(st, ta, prec, pet, par=par, fco2=fco2)
        ndep = np.empty((365, self.n))
        ndep[:] = self.ndep_annual(year) / 365.0
        return Forcing(xcgpp=gpp, xtairk=ta + TFREEZE, ndep=ndep, xtsoil=ts, xmoist=liq,
                       xfrznmoist=frz)
