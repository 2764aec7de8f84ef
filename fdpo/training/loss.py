"""The Focused-DPO loss, written over per-token weights, and the log-probs it needs.

Covers the response tokens' log-probs from one forward pass over the pair rows of
``fdpo.training.data.Batch`` (logits only at response columns), per-segment sums, and the loss

    reward = β · (Σ_t w_t log π_θ(t) − Σ_seg w_seg · ref_seg),  loss = −log σ(reward_chosen − reward_rejected)

where ``ref_seg`` are the reference model's per-segment sums. With the weights of
``fdpo.training.weights`` this is Focused-DPO, plain DPO or an ablation. Does not
cover batching (``data``) or where reference sums come from (``refcache``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fdpo.training.data import Batch


def _logsumexp(logits: torch.Tensor) -> torch.Tensor:
    if logits.dtype in (torch.float32, torch.float64):
        return torch.logsumexp(logits, dim=-1)
    # Half precision is too coarse for logsumexp: go to float32 one row at a time to bound memory.
    return torch.stack([row.float().logsumexp(-1) for row in logits])


def token_logps(model, batch: Batch) -> torch.Tensor:
    """[2B, R] log-probs of the response tokens (chosen rows, then rejected rows); 0 on padding.

    Logits are computed for the response columns only, and the log-softmax normaliser once
    per column, shared by the chosen and rejected tokens it predicts.
    """
    B, L = batch.input_ids.shape
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
        logits_to_keep=L - batch.prompt_len + 1,  # columns P-1 … L-1
    )
    logits = out.logits
    pair = (torch.arange(2 * B, device=logits.device) % B)[:, None]
    picked = logits[pair, batch.columns, batch.labels].float()
    logps = picked - _logsumexp(logits)[pair, batch.columns]
    return logps.masked_fill(batch.segments < 0, 0.0)


def segment_sums(logps: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """[N, 3] sums of ``logps`` over prefix, mid and suffix tokens (padding adds 0)."""
    sums = torch.zeros(logps.shape[0], 3, dtype=logps.dtype, device=logps.device)
    return sums.scatter_add(1, segments.clamp(min=0), logps)


def weighted_rewards(
    policy_logps: torch.Tensor,
    weights: torch.Tensor,
    ref_segments: torch.Tensor,
    segment_weights: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """[N] β · (weighted policy log-prob − weighted reference log-prob) per row."""
    policy = (policy_logps * weights).sum(-1)
    ref = (ref_segments.to(policy.dtype) * segment_weights).sum(-1)
    return beta * (policy - ref)


def dpo_losses(rewards: torch.Tensor) -> torch.Tensor:
    """[B] −log σ(chosen − rejected) for rows laid out as B chosen then B rejected."""
    chosen, rejected = rewards.chunk(2)
    return -F.logsigmoid(chosen - rejected)


@dataclass
class PairStats:
    """Per-pair results of one batch (all but ``losses`` detached)."""

    losses: torch.Tensor  # [B]
    chosen: torch.Tensor  # [B] weighted rewards
    rejected: torch.Tensor  # [B]
    chosen_segments: torch.Tensor  # [B, 3] unweighted per-segment rewards β·(policy − ref)
    rejected_segments: torch.Tensor  # [B, 3]


def pair_stats(policy_logps: torch.Tensor, batch: Batch, ref_segments: torch.Tensor, beta: float) -> PairStats:
    ref_segments = ref_segments.to(policy_logps.device)
    rewards = weighted_rewards(policy_logps, batch.weights, ref_segments, batch.segment_weights, beta)
    segment_rewards = beta * (segment_sums(policy_logps.detach(), batch.segments) - ref_segments)
    chosen, rejected = rewards.detach().chunk(2)
    chosen_seg, rejected_seg = segment_rewards.chunk(2)
    return PairStats(dpo_losses(rewards), chosen, rejected, chosen_seg, rejected_seg)
