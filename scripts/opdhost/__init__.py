"""opdhost: hosting-as-code for a region's agencies (OPD)."""

__version__ = "0.1.0"
