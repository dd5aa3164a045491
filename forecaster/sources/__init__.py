"""Where history comes from. Every source yields a regular series (see :mod:`forecaster.series`).

- :mod:`forecaster.sources.prometheus`: the only importer of the Prometheus client;
- :mod:`forecaster.sources.files`: CSV and Parquet files;
- :mod:`forecaster.sources.synthetic`: the embedded default, synthetic live-streaming traffic.
"""
