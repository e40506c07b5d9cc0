"""Data: the dataset catalog, file readers and forecasting windows."""
