"""What the real datasets' file formats (rec_jax/data/datasets/) share: reading lines and files (lines.py), column
kinds (columns.py), side tables (side_tables.py), the accounting of what reading them did (source_report.py), their
options (format_options.py), the TFDS builder every format's builder derives from (table_builder.py) and the
loader that turns a format's files into a run's raw splits (real_dataset.py)."""
