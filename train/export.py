"""The finished run as a standard Hugging Face model directory: weights (LoRA merged, the adapter
kept in RUN/adapter), config, generation config, tokenizer with its chat template, lineage.json."""

from __future__ import annotations

from pathlib import Path

from . import distributed
from .build import TrainData, TrainModel, apply_lora, make_model
from .config import TrainConfig
from .lineage import data_lineage, write_lineage
from .model import generation_config, set_causal_only


def _gathered_state(cfg: TrainConfig, tm: TrainModel, data: TrainData, info: distributed.DistInfo):
    """(model to save, full state dict or None) under FSDP (collective); (model, None) otherwise."""
    if not tm.fsdp:
        return tm.model, None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(tm.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not tm.lora:
        return tm.model, state
    # peft can neither save nor merge sharded (DTensor) weights: rank 0 rebuilds the model
    # unsharded on the CPU from the gathered state, then saves it as a single process would.
    model = tm.model
    if info.main:
        model = apply_lora(make_model(cfg, data.tokenizer), tm.lora, "SEQ_CLS" if tm.reward else "CAUSAL_LM")
        model.load_state_dict(state)
    return model, None


def save_final(cfg: TrainConfig, tm: TrainModel, data: TrainData, info: distributed.DistInfo, *, steps: int,
               tokens: int) -> None:
    """Write the model directory into RUN (rank 0; every rank must call it under FSDP)."""
    set_causal_only(tm.hf_model, False)  # the saved config names plain "sdpa"
    model, state = _gathered_state(cfg, tm, data, info)
    if info.main:
        run_dir, tok = Path(cfg.out), data.tokenizer
        out = model
        if tm.lora:
            model.save_pretrained(str(run_dir / "adapter"))
            out = model.merge_and_unload()
        if not tm.reward:  # a reward model scores, it does not generate
            out.generation_config = generation_config(tok)
        out.config.use_cache = True
        out.save_pretrained(str(run_dir), state_dict=state)
        tok.save_pretrained(str(run_dir))
        write_lineage(run_dir, task=cfg.task, data=data_lineage(cfg.data, data.files),
                      eval_data=data_lineage(cfg.eval_data, data.eval_files) if data.eval_files else None,
                      init_from=cfg.init_from, tokenizer=cfg.tokenizer or cfg.init_from, steps=steps,
                      tokens=tokens, config=cfg.to_dict())
    distributed.barrier()
