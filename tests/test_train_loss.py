"""The Focused-DPO loss on a real tiny model: ln 2 at step 0, the DPO identity, truncation,
cached vs online reference, the mid-token gradient, LoRA merging."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from test_train_data import make_pairs

from fdpo.training import refcache
from fdpo.training.data import Pair, collate, tokenize_pair
from fdpo.training.loss import (
    dpo_losses,
    pair_stats,
    segment_sums,
    token_logps,
    weighted_rewards,
)
from fdpo.training.modelio import load_tokenizer, merge_lora, reference_mode
from fdpo.training.weights import MID, PREFIX, SUFFIX, Weighting

BETA = 0.1


@pytest.fixture(scope="module")
def setup(tiny_model_dir):
    """(accelerator, tokenizer, reference model, a perturbed policy, tokenised pairs)."""
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    ref = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    policy = copy.deepcopy(ref)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    records = make_pairs(5)
    pairs = []
    for i, r in enumerate(records):
        spans = {s: tuple(r["spans"][s]["mid"]) for s in ("chosen", "rejected")}
        pairs.append(tokenize_pair(Pair(i + 1, r["prompt"], r["chosen"], r["rejected"], spans), tokenizer, 1024)[0])
    plain = Pair(9, "# A longer prompt that pads the others.\ndef neg(x):\n", "    return -x\n", "    return x\n", None)
    pairs.append(tokenize_pair(plain, tokenizer, 1024)[0])
    return accelerator, tokenizer, ref, policy, pairs


def losses(model, pairs, ref_sums, weighting, trim=True):
    batch = collate(pairs, weighting, trim=trim)
    with torch.no_grad():
        return pair_stats(token_logps(model, batch), batch, stack(ref_sums), BETA).losses


def stack(sums: torch.Tensor) -> torch.Tensor:
    """[n, 2, 3] cached sums → [2n, 3] rows (chosen rows, then rejected rows)."""
    return torch.cat([sums[:, 0], sums[:, 1]])


def test_loss_at_step_0_is_ln2(setup):
    accelerator, _, ref, _, pairs = setup
    sums = refcache.compute(accelerator, ref, pairs, batch_size=4)
    for weighting in (Weighting(), Weighting(rejected_suffix="keep"), Weighting(w_focused=5.0), Weighting(focus=False)):
        got = losses(ref, pairs, sums, weighting)
        torch.testing.assert_close(got, torch.full_like(got, math.log(2)), atol=1e-5, rtol=0)


def independent_logp(model, prompt: list[int], response: list[int]) -> torch.Tensor:
    """Σ log p(response | prompt) from one unpadded sequence, the textbook way."""
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
    logps = logits.log_softmax(-1).gather(-1, ids[0, 1:, None]).squeeze(-1)
    return logps[len(prompt) - 1 :].sum()


def test_w1_with_rejected_suffix_kept_is_standard_dpo(setup):
    accelerator, _, ref, policy, pairs = setup
    expected = []
    for p in pairs:
        chosen = independent_logp(policy, p.prompt, p.chosen) - independent_logp(ref, p.prompt, p.chosen)
        rejected = independent_logp(policy, p.prompt, p.rejected) - independent_logp(ref, p.prompt, p.rejected)
        expected.append(-F.logsigmoid(BETA * (chosen - rejected)))
    expected = torch.stack(expected)
    assert expected.std() > 1e-3  # the perturbed policy gives each pair its own loss
    sums = refcache.compute(accelerator, ref, pairs, batch_size=4)
    torch.testing.assert_close(losses(policy, pairs, sums, Weighting(w_focused=1.0, rejected_suffix="keep")), expected)
    torch.testing.assert_close(losses(policy, pairs, sums, Weighting(focus=False)), expected)
    # Focused-DPO proper is a different objective on the same pairs.
    assert not torch.allclose(losses(policy, pairs, sums, Weighting()), expected, atol=1e-4)


def test_cutting_the_rejected_suffix_equals_weighting_it_0(setup):
    accelerator, _, ref, policy, pairs = setup
    sums = refcache.compute(accelerator, ref, pairs, batch_size=4)
    for weighting in (Weighting(), Weighting(weight_rejected_mid=False)):
        cut = collate(pairs, weighting, trim=True)
        full = collate(pairs, weighting, trim=False)
        assert cut.tokens < full.tokens
        torch.testing.assert_close(
            losses(policy, pairs, sums, weighting, trim=True), losses(policy, pairs, sums, weighting, trim=False)
        )


def test_cached_and_online_reference_give_the_same_loss(setup, tmp_path, tiny_model_dir):
    accelerator, _, ref, policy, pairs = setup
    weighting = Weighting()
    cached, hit = refcache.load_or_compute(
        accelerator, policy, str(tiny_model_dir), pairs, cache_dir=tmp_path, batch_size=2, bf16=False
    )
    assert not hit
    again, hit = refcache.load_or_compute(
        accelerator, policy, str(tiny_model_dir), pairs, cache_dir=tmp_path, batch_size=3, bf16=False
    )
    assert hit and torch.equal(cached, again)
    batch = collate(pairs, weighting)  # what a training step sees: rejected suffixes cut
    with reference_mode(accelerator, policy):
        online = segment_sums(token_logps(policy, batch), batch.segments)
    with torch.no_grad():
        logps = token_logps(policy, batch)
    via_cache = pair_stats(logps, batch, stack(cached), BETA).losses
    via_online = pair_stats(logps, batch, online, BETA).losses
    torch.testing.assert_close(via_cache, via_online)
    torch.testing.assert_close(via_cache, torch.full_like(via_cache, math.log(2)), atol=1e-5, rtol=0)


def test_cache_key_follows_data_and_max_length_not_weights(setup, tiny_model_dir):
    _, tokenizer, _, _, pairs = setup
    key = refcache.cache_key(str(tiny_model_dir), pairs, bf16=False)
    assert key == refcache.cache_key(str(tiny_model_dir), list(pairs), bf16=False)
    assert key != refcache.cache_key(str(tiny_model_dir), pairs[:-1], bf16=False)
    assert key != refcache.cache_key(str(tiny_model_dir), pairs, bf16=True)
    r = make_pairs(1)[0]
    spans = {s: tuple(r["spans"][s]["mid"]) for s in ("chosen", "rejected")}
    short = tokenize_pair(Pair(1, r["prompt"], r["chosen"], r["rejected"], spans), tokenizer, 12)[0]
    assert refcache.cache_key(str(tiny_model_dir), [short], False) != refcache.cache_key(
        str(tiny_model_dir), pairs[:1], False
    )


def test_gradient_at_mid_tokens_is_w_times_prefix_free_dpo(setup):
    accelerator, _, ref, policy, pairs = setup
    pairs = pairs[:-1]  # the pairs with spans
    w = 2.0
    batch = collate(pairs, Weighting(w_focused=w), trim=False)
    with torch.no_grad():
        ref_logps = token_logps(ref, batch)
    ref_segments = segment_sums(ref_logps, batch.segments)

    def grad(weights, segment_weights, logps):
        leaf = logps.clone().requires_grad_(True)
        dpo_losses(weighted_rewards(leaf, weights, ref_segments, segment_weights, BETA)).sum().backward()
        return leaf.grad

    # Prefix-free DPO: weight 1 on mid and suffix, 0 on the (token-identical, cancelling) prefix.
    seg = batch.segments
    free_weights = torch.where((seg == MID) | (seg == SUFFIX), 1.0, 0.0)
    free_segment_weights = torch.tensor([0.0, 1.0, 1.0]).expand_as(batch.segment_weights)
    g_focused = grad(batch.weights, batch.segment_weights, ref_logps)  # step 0: policy = reference
    g_free = grad(free_weights, free_segment_weights, ref_logps)
    mid = seg == MID
    assert mid.sum() >= 2 * len(pairs)
    torch.testing.assert_close(g_focused[mid], w * g_free[mid])
    n = len(pairs)
    chosen_suffix = torch.zeros_like(mid)
    chosen_suffix[:n] = seg[:n] == SUFFIX
    torch.testing.assert_close(g_focused[chosen_suffix], g_free[chosen_suffix])
    assert (g_focused[n:][seg[n:] == SUFFIX] == 0).all()  # the rejected suffix is dropped
    assert (g_focused[seg == PREFIX] != 0).all()  # prefixes get equal and opposite pushes

    # Away from step 0, within one chosen response a mid token still gets w times a suffix token's push.
    with torch.no_grad():
        logps = token_logps(policy, batch)
    g = grad(batch.weights, batch.segment_weights, logps)
    for row in range(n):
        g_mid, g_suf = g[row][seg[row] == MID], g[row][seg[row] == SUFFIX]
        torch.testing.assert_close(g_mid, torch.full_like(g_mid, w * g_suf[0].item()))


def test_bf16_autocast_log_probs_stay_close_to_float32(setup):
    _, _, ref, _, pairs = setup
    batch = collate(pairs, Weighting())
    with torch.no_grad():
        exact = token_logps(ref, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = token_logps(ref, batch)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, exact, atol=0.1, rtol=0.05)


def test_lora_merge_equals_peft_merge(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    merged = merge_lora(peft_model.state_dict(), peft_model)
    ids = torch.tensor([[5, 9, 3, 7, 11]])
    with torch.no_grad():
        expected = peft_model(ids).logits
        reference = peft_model.merge_and_unload().state_dict()
    assert set(merged) == set(reference)
    for key, value in reference.items():
        torch.testing.assert_close(merged[key], value, msg=key)
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    plain.load_state_dict(merged)
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, expected)
