"""Reference-format input and output of the Fortran biogeochemical testbed.

* `lst`: the run-control file (`fcasacnp_clm_testbed.lst`) and the file-name rules.
* `testbed`: gridinfo, soil, phenology, perturbation and met inputs; CASA and MIMICS restart
  CSVs, the CASA flux CSV and `mimics_diagnostic.csv`.
* `refnc`: the CASA and MIMICS NetCDF outputs (daily and annual).
* `cfout`: the project's own CF-1.8 NetCDF output (`CFWriter`, the output variable registry).
* `atomic`: atomic file writing.
"""
