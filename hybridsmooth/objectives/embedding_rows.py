"""Which rows of the base weights a minibatch's forward pass reads: the input word embedding, when nothing
but its index lookup reads it.

A ZO step uses this to perturb only those rows for its two measuring forwards (``zo.read_rows``). It is
found once per objective and is conservative: the input embedding must be an ``nn.Embedding`` without
``max_norm`` (which would rewrite rows during the lookup), its weight must be in the x block, and no other
module slot may hold the same Parameter (a tied LM head, as in SmolLM2 or OPT, reads every row). A hook on
the embedding checks at every measured forward that it saw only the rows it was promised, so a model that
embeds something else than the batch's ``input_ids`` stops the step with an error instead of measuring
the wrong loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class EmbeddingRows:
    """The input embedding of a model whose rows a forward reads only by index (module docstring):
    ``position`` is its place in the x layout, ``key`` the batch entry holding the token ids."""

    def __init__(self, module: nn.Embedding, position: int, key: str = "input_ids"):
        self.position, self.key = position, key
        self._seen: list[Tensor] = []
        self._armed = False  # records only inside a checked loss: other forwards (evaluations) keep nothing
        module.register_forward_pre_hook(self._record)

    def _record(self, _module, args) -> None:
        if self._armed and args and isinstance(args[0], Tensor):
            self._seen.append(args[0].detach())

    def rows(self, batch: dict, n_params: int) -> list[Tensor | None]:
        """One entry per x tensor: the sorted unique token ids of ``batch`` for the embedding, None elsewhere."""
        out: list[Tensor | None] = [None] * n_params
        out[self.position] = torch.unique(batch[self.key])
        return out

    def checked(self, loss: Callable[[], Tensor], rows: Tensor) -> Callable[[], Tensor]:
        """``loss`` that also checks that the embedding read no row outside ``rows`` (and was read at all)."""

        def run() -> Tensor:
            self._seen.clear()
            self._armed = True
            try:
                value = loss()
            finally:
                self._armed = False
            seen = torch.unique(torch.cat([s.reshape(-1) for s in self._seen])) if self._seen else None
            if seen is None or not bool(torch.isin(seen, rows).all()):
                raise RuntimeError(
                    "the ZO step perturbed only the embedding rows of the batch's token ids, but the forward "
                    "pass read other rows (or none): this model embeds something else; run with every row "
                    "moved (zo_rows='all')"
                )
            self._seen.clear()
            return value

        return run


def find_embedding_rows(model: nn.Module, x_params: list[nn.Parameter]) -> EmbeddingRows | None:
    """The input embedding as :class:`EmbeddingRows` if only its index lookup reads it, else None."""
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    if not isinstance(emb, nn.Embedding) or emb.max_norm is not None:
        return None
    weight = emb.weight
    position = next((k for k, p in enumerate(x_params) if p is weight), None)
    if position is None:
        return None
    holders = sum(1 for m in model.modules() for p in m._parameters.values() if p is weight)
    return EmbeddingRows(emb, position) if holders == 1 else None
