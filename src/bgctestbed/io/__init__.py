"""Reference-format input and output of the Fortran biogeochemical testbed.

* `lst`: the run-control file (`fcasacnp_clm_testbed.lst`) and the file-name rules.
* `testbed`: gridinfo, soil, phenology, perturbation and met inputs; CASA and MIMICS restart
  CSVs, the CASA flux CSV and `mimics_diagnostic.csv`.
* `refnc`: the CASA and MIMICS NetCDF outputs (daily and annual).
* `atomic`: atomic file writing.
"""
