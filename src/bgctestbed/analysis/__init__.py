"""Analysis of model output as in Wieder et al. (2024, JAMES): loading with the paper's `ann_*`
semantics, global/zonal statistics, Tables 1 and 2, turnover times, N-cycle response ratios,
boreal region, spin-up drift, figures and the report (see README.md in this folder)."""

from .load import DERIVED, LAYOUTS, add_derived, concat, daily_to_annual, load_daily, load_run  # noqa: F401
from .metrics import (  # noqa: F401
    area_mean, global_log_response_ratio, global_sum, log_response_ratio, n_limitation, paper_mask,
    read_convergence_log, region_mask, spinup_drift, table1, table2, turnover_time, zonal_mean)
from .report import make_report  # noqa: F401
