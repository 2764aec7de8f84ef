"""Loading the policy and writing the trained model folder.

Covers loading tokenizer and model (float32 master weights, sdpa attention,
dropout off, optional LoRA through peft and gradient checkpointing),
the reference mode (eval, no grad, LoRA adapter off), and saving a plain Hugging
Face folder that transformers and vLLM open unchanged: LoRA merged into the
weights, the source checkpoint's dtype, the tokenizer alongside. Does not cover
the training loop (see ``fdpo.training.loop``).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from fdpo.errors import FdpoError


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise FdpoError(f"cannot load a tokenizer from {path!r}: {exc}") from None
    if tokenizer.eos_token_id is None:
        raise FdpoError(f"the tokenizer of {path!r} has no EOS token to end responses with")
    return tokenizer


def source_dtype(path: str) -> torch.dtype:
    """The dtype the checkpoint is stored in; the trained folder is saved in it too."""
    from transformers import AutoConfig

    dtype = getattr(AutoConfig.from_pretrained(path), "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def load_policy(path: str, *, lora: bool, lora_r: int, lora_alpha: int, bf16: bool, gradient_checkpointing: bool):
    from transformers import AutoModelForCausalLM

    # Full fine-tuning keeps float32 master weights (bf16 is autocast): at DPO
    # learning rates a bf16 weight would round most updates away. Under LoRA the
    # frozen base may stay bf16; the adapters are float32 either way.
    dtype = torch.bfloat16 if (lora and bf16) else torch.float32
    try:
        # sdpa (or eager) take the custom 4-D masks that let a pair share its prompt; flash-attention does not.
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    except (OSError, ValueError) as exc:
        raise FdpoError(f"cannot load a causal LM from {path!r}: {exc}") from None
    _disable_dropout(model)
    model.config.use_cache = False
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        )
        model = get_peft_model(model, config)
    return model


def _disable_dropout(model) -> None:
    # Reference log-probs are computed with dropout off; the policy must match them (step-0 loss = ln 2).
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    for name in ("attention_dropout", "hidden_dropout", "dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop"):
        if isinstance(getattr(model.config, name, None), float):
            setattr(model.config, name, 0.0)


def is_peft(model) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


@contextmanager
def reference_mode(accelerator, model):
    """The initial policy: eval mode, no gradients, and under LoRA the adapter switched off."""
    unwrapped = accelerator.unwrap_model(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), (unwrapped.disable_adapter() if is_peft(unwrapped) else nullcontext()):
            yield
    finally:
        model.train(was_training)


def merge_lora(state: dict[str, torch.Tensor], peft_model) -> dict[str, torch.Tensor]:
    """A plain model's state dict from a peft LoRA model's: W + scaling · B @ A."""
    name = peft_model.active_adapter
    config = peft_model.peft_config[name]
    scaling = config.lora_alpha / (config.r**0.5 if config.use_rslora else config.r)

    def base_key(key: str) -> str:
        return key.removeprefix("base_model.model.").replace(".base_layer.", ".")

    merged = {base_key(k): v for k, v in state.items() if ".lora_" not in k}
    for key, a in state.items():
        if f".lora_A.{name}." not in key:
            continue
        module = key.split(".lora_A.")[0]
        b = state[f"{module}.lora_B.{name}.weight"]
        delta = scaling * (b.float() @ a.float())
        target = base_key(f"{module}.weight")
        weight = merged[target]
        merged[target] = (weight.float() + (delta.T if config.fan_in_fan_out else delta)).to(weight.dtype)
    return merged


def save_model(accelerator, model, tokenizer, out_dir: Path, dtype: torch.dtype) -> None:
    """Write the trained model as a Hugging Face folder; every process must call this."""
    state = accelerator.get_state_dict(model)  # gathers shards under FSDP / ZeRO-3
    unwrapped = accelerator.unwrap_model(model)
    if is_peft(unwrapped):
        state = merge_lora(state, unwrapped)
        unwrapped = unwrapped.get_base_model()
    if not accelerator.is_main_process:
        return
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    unwrapped.save_pretrained(out_dir, state_dict=state, safe_serialization=True)
    # save_pretrained records the in-memory dtype (float32); the weights are in ``dtype``.
    unwrapped.config.dtype = dtype
    unwrapped.config.use_cache = True
    unwrapped.config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
