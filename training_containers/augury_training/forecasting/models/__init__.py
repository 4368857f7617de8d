"""Forecasting algorithms, one module per family; look them up in ``registry``."""
