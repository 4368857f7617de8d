"""The forecasting training container: algorithms, backtests, ensembles, forecasts."""
