"""Recover a trainable `transformers` checkpoint from an exported ORT GenAI Llama folder, so a shipped model can be
fine-tuned again (on a larger corpus, for a new car) without the run that made it.

The builder stores each projection as MatMulNBits (blocks of 32 input weights, one scale each, zero point 2^(bits-1)
when none is stored) and fuses q/k/v into one matrix; this undoes both. With 8-bit weights the recovered model
equals what ONNX Runtime computes up to the quantisation of activations (logits checked in the tests).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np


def _dequant(init: dict[str, np.ndarray], prefix: str, bits: int, k: int) -> np.ndarray:
    q = init[f"{prefix}.MatMul.weight_Q{bits}"]
    scales = init[f"{prefix}.MatMul.weight_scales"]
    zp = init.get(f"{prefix}.MatMul.weight_zero_points")
    if zp is not None:
        raise ValueError(f"{prefix}: MatMulNBits with stored zero points is not supported")
    if bits != 8:
        raise ValueError(f"{prefix}: {bits}-bit weights are not supported (export with --precision int8 or fp32)")
    n, blocks, block = q.shape
    w = (q.astype(np.float32) - 2 ** (bits - 1)) * scales.reshape(n, blocks, 1).astype(np.float32)
    return w.reshape(n, blocks * block)[:, :k]                   # [out, in], like torch Linear.weight


def recover(model_dir: str | Path, out_dir: str | Path) -> Path:
    """ORT GenAI folder (model.onnx + genai_config.json + tokenizer) -> OUT (config.json, weights, tokenizer)."""
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import LlamaConfig, LlamaForCausalLM

    model_dir, out = Path(model_dir), Path(out_dir)
    if not (model_dir / "genai_config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no genai_config.json (not an ORT GenAI model folder)")
    cfg = json.loads((model_dir / "genai_config.json").read_text())["model"]
    if cfg.get("type") != "llama":
        raise ValueError(f"{model_dir}: model type {cfg.get('type')!r}; only llama exports can be recovered")
    dec = cfg["decoder"]
    graph = onnx.load(str(model_dir / dec["filename"])).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    bits = {a.i for n in graph.node if n.op_type == "MatMulNBits" for a in n.attribute if a.name == "bits"}
    if len(bits) > 1:
        raise ValueError(f"{model_dir}: mixed weight widths {sorted(bits)}")
    nb = bits.pop() if bits else 0
    h, layers = dec["hidden_size"], dec["num_hidden_layers"]
    heads, kv, hd = dec["num_attention_heads"], dec["num_key_value_heads"], dec["head_size"]
    gate = "model.layers.0.mlp.gate_proj.MatMul.weight"
    inter = init[f"{gate}_Q{nb}"].shape[0] if nb else init[gate].shape[1]     # [out, blocks, 32] or [in, out]
    hf = LlamaConfig(vocab_size=cfg["vocab_size"], hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                     num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=cfg["context_length"],
                     bos_token_id=cfg["bos_token_id"], eos_token_id=cfg["eos_token_id"],
                     pad_token_id=cfg["pad_token_id"], tie_word_embeddings=False, rope_theta=10000.0)
    model = LlamaForCausalLM(hf)

    def w(prefix: str, k: int) -> torch.Tensor:
        if nb:
            return torch.from_numpy(_dequant(init, prefix, nb, k).copy())
        return torch.from_numpy(init[f"{prefix}.MatMul.weight"].T.copy())

    sd = {"model.embed_tokens.weight": torch.from_numpy(init["model.embed_tokens.weight"].copy()),
          "model.norm.weight": torch.from_numpy(init[f"model.layers.{layers}.final_norm_layernorm.weight"].copy()),
          "lm_head.weight": w("lm_head", h)}
    for i in range(layers):
        p = f"model.layers.{i}"
        qkv = w(f"{p}.attn.qkv_proj", h)
        sd[f"{p}.self_attn.q_proj.weight"] = qkv[:heads * hd]
        sd[f"{p}.self_attn.k_proj.weight"] = qkv[heads * hd:(heads + kv) * hd]
        sd[f"{p}.self_attn.v_proj.weight"] = qkv[(heads + kv) * hd:]
        sd[f"{p}.self_attn.o_proj.weight"] = w(f"{p}.attn.o_proj", heads * hd)
        for proj, k in (("gate_proj", h), ("up_proj", h), ("down_proj", inter)):
            sd[f"{p}.mlp.{proj}.weight"] = w(f"{p}.mlp.{proj}", k)
        for norm in ("input_layernorm", "post_attention_layernorm"):
            sd[f"{p}.{norm}.weight"] = torch.from_numpy(init[f"{p}.{norm}.weight"].copy())
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if "rotary" not in m]
    if missing or unexpected:
        raise ValueError(f"{model_dir}: recovered weights do not fit the Llama config (missing {missing}, "
                         f"unexpected {unexpected})")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):       # the export carries the run's tokenizer files
        shutil.copy(model_dir / name, out / name)
    return out
