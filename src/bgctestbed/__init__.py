"""bgctestbed: the biogeochemical model testbed (CASA-CNP + CASA/MIMICS soil) in JAX."""

__version__ = "0.1.0"
