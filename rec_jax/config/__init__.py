"""Configs: the neutral base every config file derives from (base.py), the datasets a config points it at
(datasets.py), the one parser of a config file's presets (presets.py) and the loader that executes a config file and
checks command-line overrides against it (loader.py)."""
