"""Preparing a dataset too large to hold in memory (`data.streaming=True`): its stored rows are read block by block,
the feature processor is fitted on the train blocks, and every split's transformed rows are written once into a
row store on disk that training and evaluation read batches from (see prepare.py)."""
