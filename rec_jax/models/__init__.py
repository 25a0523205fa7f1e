"""The models: the zoo (zoo/, `model.name`), the feature crosses (crosses/, `model.cross`) and history encoders
(history/, `model.history`) they are built from, and the pieces they share (field embeddings, the CF tower, MLPs,
attention); their options and inputs are in options.py."""
