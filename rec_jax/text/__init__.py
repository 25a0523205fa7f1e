"""The text side of rec_jax: BERT (bert.py) and its checkpoints (pretrained.py), tokenisation (tokenizer.py), how
the encoder trains (modes.py: full, frozen, top_layers, lora.py's adapters, frozen.py's weights), the towers that
turn a text into the recommender's vector (towers.py), and what frozen blocks compute ahead: batch inference
(encode.py) and the text cache (cache.py)."""
