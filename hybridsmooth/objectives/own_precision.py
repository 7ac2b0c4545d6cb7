"""LLaMA-type models that keep a float64 model's precision: eager attention and RMSNorm.

transformers computes two parts of these architectures in float32 whatever the model's dtype, a guard for
bfloat16, and in a float64 model both go wrong:

* eager attention (LLaMA, Mistral, Qwen2, OPT) takes its softmax in float32. The additive mask's fill value,
  finfo(float64).min, becomes -inf there: a query row whose keys are all masked (a left-padding position of a
  prompt batch) gives NaN, and the value vectors carry it into every later position (0 x NaN = NaN), so the
  loss itself is NaN;
* RMSNorm (LLaMA, Mistral, Qwen2) normalises in float32, so every layer's output, and every gradient through
  it, carries float32 rounding: a central difference of float64 gradients then loses accuracy below h = 1e-4.

Float64 is where the exact checks run (dense Hessians, finite differences), so ``keep_own_precision`` gives
a loaded model of these types a copy of each that computes in the promotion of its dtype and float32: bit
for bit transformers' own in float32, bfloat16 and float16, float64 throughout in float64. The attention is
registered under ``EAGER_OWN_PRECISION`` with transformers' eager mask; the norms keep their class and
parameters and get the copied ``forward``.
"""

from __future__ import annotations

import types

import torch
from torch import Tensor, nn

EAGER_OWN_PRECISION = "eager_own_precision"
# the architectures whose eager attention, and the norm classes whose forward, are the ones copied here
# (checked against transformers 5.25)
OWN_PRECISION_TYPES = frozenset({"llama", "mistral", "qwen2", "opt"})
RMS_NORMS = frozenset({"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm"})


def eager_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[Tensor, Tensor]:
    """transformers' eager attention of these architectures, with the softmax in max(dtype, float32)."""
    from transformers.models.llama.modeling_llama import repeat_kv

    groups = getattr(module, "num_key_value_groups", 1)
    key_states, value_states = repeat_kv(key, groups), repeat_kv(value, groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    softmax_dtype = torch.promote_types(query.dtype, torch.float32)
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=softmax_dtype).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
    return attn_output, attn_weights


def rms_norm_forward(self, hidden_states: Tensor) -> Tensor:
    """transformers' LlamaRMSNorm.forward with the normalisation in max(dtype, float32)."""
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(torch.promote_types(input_dtype, torch.float32))
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
    return self.weight * hidden_states.to(input_dtype)


def register() -> str:
    """Registers the attention and transformers' eager mask under ``EAGER_OWN_PRECISION`` (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(EAGER_OWN_PRECISION, eager_attention)
    AttentionMaskInterface.register(EAGER_OWN_PRECISION, eager_mask)
    return EAGER_OWN_PRECISION


def keep_own_precision(model: nn.Module, attn: str) -> None:
    """Gives a model of ``OWN_PRECISION_TYPES`` the copies above (the attention only where eager attention is
    asked for); other models are left as they are."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in OWN_PRECISION_TYPES:
        return
    for module in model.modules():
        if type(module).__name__ in RMS_NORMS:
            module.forward = types.MethodType(rms_norm_forward, module)
    if attn != "eager":
        return
    name = register()
    setter = getattr(model, "set_attn_implementation", None)
    if callable(setter):
        setter(name)
    else:
        config._attn_implementation = name
