"""Model building blocks: MLPs, feature-cross modules and the BERT item text tower."""
