"""Which weights fine-tuning trains: all of them, only the task head (frozen encoder, features only), or
the head plus the top k encoder layers."""
from __future__ import annotations

from bertkit.errors import InputError
from bertkit.models import Model


def parse_freeze(policy: str | int | None) -> int | None:
    """'none'/'full'/None -> None (train everything); 'encoder'/'features'/'all' -> 0 trainable layers;
    'top:k', 'top-k' or an int k -> the top k layers trainable."""
    if policy is None or policy in ("none", "full"):
        return None
    if policy in ("encoder", "features", "all"):
        return 0
    if isinstance(policy, int):
        k = policy
    else:
        s = str(policy)
        for prefix in ("top:", "top-", "top"):
            if s.startswith(prefix):
                s = s[len(prefix):]
                break
        try:
            k = int(s)
        except ValueError:
            raise InputError(f"freeze must be 'none', 'encoder' or 'top:K' (K layers trainable), got {policy!r}") \
                from None
    if k < 0:
        raise InputError(f"freeze top:K needs K >= 0, got {k}")
    return k


def apply_freezing(model: Model, policy: str | int | None) -> dict[str, int]:
    """Set requires_grad by `policy` (see parse_freeze). Heads and the pooler always train. Returns
    {"trainable": n, "total": n} parameter counts. Shared (ALBERT) blocks train if any layer using them does."""
    k = parse_freeze(policy)
    for p in model.parameters():
        p.requires_grad_(True)
    if k is not None:
        stack = model.backbone.encoder
        n = stack.num_layers
        if k > n:
            raise InputError(f"freeze top:{k} asks for more layers than the model's {n}")
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        for i in range(n - k, n):
            for j in stack.schedule(i):
                for p in stack.blocks[j].parameters():
                    p.requires_grad_(True)
        if stack.final_norm is not None and k > 0:
            for p in stack.final_norm.parameters():
                p.requires_grad_(True)
        if model.backbone.pooler is not None:
            for p in model.backbone.pooler.parameters():
                p.requires_grad_(True)
    seen: dict[int, tuple[int, bool]] = {id(p): (p.numel(), p.requires_grad) for p in model.parameters()}
    return {"trainable": sum(n for n, g in seen.values() if g), "total": sum(n for n, _ in seen.values())}
