"""The synthetic shop's governance schema: what a valid impression row is and what happens to an invalid one."""

from __future__ import annotations

import dataclasses

from rec_jax.data.governance import FieldRule, Schema

SCHEMA = Schema(
    dedup_key="impression_id",
    rules=(
        FieldRule("user_id", "id", pattern=r"u\d+"),
        FieldRule("item_id", "id", pattern=r"i\d+"),
        FieldRule("label", "label", allowed=(0, 1)),
        FieldRule("rating", "integer", low=1, high=5),
        # A negative price is a corrupted record, not a discount: drop it. A missing price is imputed with the
        # train median; extreme prices are capped at the train 99.9th percentile.
        FieldRule("price", "number", on_missing="impute", low=0.0, clip_quantile=0.999),
        FieldRule("category", "category"),
        FieldRule("brand", "category", on_missing="impute", fill="unknown"),
        FieldRule("age_bucket", "category", on_missing="impute", fill="unknown"),
        FieldRule("gender", "category", on_missing="impute", fill="unknown"),
        FieldRule("region", "category", on_missing="impute", fill="unknown"),
        FieldRule("device", "category", on_missing="impute", fill="unknown"),
        FieldRule("title", "text", on_missing="impute", fill=""),
        FieldRule("description", "text", on_missing="impute", fill=""),
        FieldRule("hour", "integer", low=0, high=23),
        FieldRule("weekday", "integer", low=0, high=6),
        FieldRule("timestamp", "integer", low=0),
        FieldRule("history", "id_list", pattern=r"i\d+"),
    ),
)

# A search shop's rows also carry the query: a result whose query was lost cannot be scored for relevance, so the
# row is dropped (and counted), not imputed.
SEARCH_RULES = (FieldRule("query", "text"), FieldRule("session_id", "integer", low=0))


def schema_for(spec) -> Schema:
  """The schema of a shop described by `spec` (a `world.ShopSpec`)."""
  return dataclasses.replace(SCHEMA, rules=SCHEMA.rules + SEARCH_RULES) if spec.search else SCHEMA
