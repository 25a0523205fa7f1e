"""Next-item losses over the item-id table: full softmax, sampled softmax with uniform negatives, or SASRec's
binary cross-entropy with one uniform negative per position."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rec_jax.batch import OOV, PAD
from rec_jax.errors import UserError

_MASKED = -1e9   # finite, so a row whose every column is masked gives no NaN


LOSSES = ("softmax", "bce")


def next_item_loss(states, targets, weights, table, rng, *, num_negatives: int = 0, loss: str = "softmax"):
  """Weighted mean loss of predicting `targets` from `states`.

  states [batch, positions, dim]; targets [batch, positions] item ids; weights [batch, positions] (0 = no target
  at that position); table [num_items, dim] item vectors, rows PAD and OOV never candidates.
  - num_negatives = 0: full softmax over every item of the table;
  - num_negatives = N: the target against N items drawn uniformly (shared by the batch) from the table, a drawn
    item equal to the target masked out (accidental hit). The logQ correction of sampled softmax subtracts the same
    log(1 / num_items) from every candidate under uniform sampling, so it cancels and is omitted;
  - loss = "bce" (SASRec's own, Kang & McAuley 2018): -log sigmoid(s.e_target) - log(1 - sigmoid(s.e_negative))
    with one negative drawn uniformly per position (a draw equal to the target contributes no negative term);
    `num_negatives` is then unused.
  """
  if loss not in LOSSES:
    raise UserError(f"task_options.loss={loss!r} is not one of {LOSSES}")
  targets = jnp.maximum(targets, 0)
  if loss == "bce":
    ids = jax.random.randint(rng, targets.shape, OOV + 1, table.shape[0])
    positive = jnp.sum(states * table[targets], axis=-1)
    negative = jnp.sum(states * table[ids], axis=-1)
    losses = jax.nn.softplus(-positive) + jnp.where(ids == targets, 0.0, jax.nn.softplus(negative))
  elif num_negatives:
    ids = jax.random.randint(rng, (num_negatives,), OOV + 1, table.shape[0])
    positive = jnp.sum(states * table[targets], axis=-1, keepdims=True)
    sampled = jnp.einsum("bpd,nd->bpn", states, table[ids])
    sampled = jnp.where(ids == targets[..., None], _MASKED, sampled)
    losses = optax.softmax_cross_entropy_with_integer_labels(jnp.concatenate([positive, sampled], axis=-1),
                                                             jnp.zeros(targets.shape, jnp.int32))
  else:
    logits = jnp.einsum("bpd,vd->bpv", states, table)
    reserved = jnp.arange(table.shape[0]) <= max(PAD, OOV)
    logits = jnp.where(reserved, _MASKED, logits)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)
