"""Streaming Parquet loader: shuffle windows, per-rank sharding, exact resumable position.

Shards are read a row group at a time ("units"). Each epoch the units are permuted (seed, epoch);
rank r takes every world-th unit (or, with fewer units than ranks, every world-th row). A rank's
units are grouped into *windows* of at least `shuffle_buffer` rows; a window's rows are permuted
with an RNG seeded by (seed, epoch, rank, window). The position in the stream is therefore three
integers, (epoch, window, offset): resuming reads only the current window and skips `offset`
samples, and yields exactly what an uninterrupted run would have (unlike a reservoir shuffle
buffer, whose contents would have to be checkpointed).

Row layouts, detected from the schema:
  tokens  `input_ids` (length seq_len+1; documents joined with EOS), optional `loss_mask`,
          `position_ids` or `doc_lens` (per-document restarts; used only with doc_attention, then
          attention stays inside a document and a document's first token is not a target)
  sft     `input_ids`, `labels` (-100 = not trained), optional `position_ids` (packed rows)
  dpo     `chosen_input_ids`, `chosen_labels`, `rejected_input_ids`, `rejected_labels`
  text    `text`: tokenized on the fly, joined with EOS and cut into seq_len+1 rows per window
          (the part of a window too short for a full row is dropped).
A background thread reads, converts and collates ahead of the training loop.
"""

from __future__ import annotations

import glob
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from .storage import is_uri, list_parquet, open_parquet, read_schema

IGNORE = -100


@dataclass(frozen=True)
class Unit:
    """Rows [start, stop) of one row group of one Parquet file."""

    path: str
    row_group: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


def list_shards(data: str | Path | list) -> list[Path] | list[str]:
    """The Parquet files of a shard directory (recursively, sorted), or the one file given; a glob
    (``out/*/data``, ``out/data/part-*.parquet``) stands for what it matches; a list for the files of
    each entry in turn (each file once). For a URI (``s3://bucket/run/data``) the objects, as URIs."""
    if isinstance(data, list | tuple):
        seen, out = set(), []
        for d in data:
            for f in list_shards(d):
                if str(f) not in seen:
                    seen.add(str(f))
                    out.append(f)
        return out
    if is_uri(data):
        files = list_parquet(str(data))
        if not files:
            raise FileNotFoundError(f"no .parquet shards under {data!r}")
        return files
    if any(c in str(data) for c in "*?["):
        matches = sorted(glob.glob(str(data), recursive=True))
        if not matches:
            raise FileNotFoundError(f"training data {str(data)!r} matches nothing")
        return list_shards([m for m in matches if Path(m).is_dir() or m.endswith(".parquet")] or matches)
    p = Path(data)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"training data {str(p)!r} does not exist")
    files = sorted(f for f in p.rglob("*.parquet")
                   if not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
    if not files:
        raise FileNotFoundError(f"no .parquet shards under {str(p)!r}")
    return files


def first_source(data: str | Path | list) -> str | Path:
    """The first entry of a --data list (where the manifest and chat template are looked for)."""
    return data[0] if isinstance(data, list | tuple) else data


def detect_kind(files: list[Path], task: str | None = None) -> str:
    """'tokens' | 'sft' | 'dpo' | 'text' from the first shard's columns.

    The SFT stage writes one schema for SFT and preference rows (the other kind's columns null),
    so the task decides when both are present.
    """
    names = set(read_schema(files[0]).names)
    has_dpo = {"chosen_input_ids", "rejected_input_ids"} <= names
    has_sft = "input_ids" in names and "labels" in names
    # rm (the reward model) reads the same preference columns as dpo
    if has_dpo and (task in ("dpo", "rm") or not has_sft):
        return "dpo"
    if has_sft:
        return "sft"
    if "input_ids" in names:
        return "tokens"
    if "text" in names:
        return "text"
    raise ValueError(
        f"{files[0]}: no input_ids / labels / chosen_input_ids / text column (has {sorted(names)})"
    )


KEY_COLUMN = {"tokens": "input_ids", "sft": "input_ids", "dpo": "chosen_input_ids", "text": "text"}


def scan_units(files: list[Path], kind: str | None = None) -> list[Unit]:
    """One unit per non-empty row group, in file order; with `kind`, row groups whose key column
    is all null (the other kind's rows in a mixed SFT/preference output) are left out."""
    units = []
    key = KEY_COLUMN.get(kind or "")
    for f in files:
        md = open_parquet(f).metadata
        leaves = [j for j in range(md.num_columns) if key and md.schema.column(j).path.split(".")[0] == key]
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            n = rg.num_rows
            if key and not leaves:
                n = 0
            elif leaves:
                ch = rg.column(leaves[0])
                st = ch.statistics
                # every entry null: the whole row group holds the other kind's rows
                if st is not None and st.has_null_count and st.null_count == ch.num_values:
                    n = 0
            if n:
                units.append(Unit(str(f), i, 0, n))
    return units


def split_holdout(units: list[Unit], rows: int) -> tuple[list[Unit], list[Unit]]:
    """Hold out the last `rows` rows of the stream for eval; never all of it."""
    total = sum(u.rows for u in units)
    rows = min(rows, total // 10) if total >= 20 else 0
    train, held, need = list(units), [], rows
    while need > 0:
        u = train.pop()
        take = min(need, u.rows)
        held.insert(0, Unit(u.path, u.row_group, u.stop - take, u.stop))
        if take < u.rows:
            train.append(Unit(u.path, u.row_group, u.start, u.stop - take))
        need -= take
    return train, held


COLUMNS = {
    "tokens": ["input_ids", "loss_mask", "n_pad", "position_ids", "doc_lens"],
    "sft": ["input_ids", "labels", "position_ids"],
    "dpo": ["chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"],
    "text": ["text"],
}


def _lists(col: pa.ChunkedArray | pa.Array) -> list[np.ndarray]:
    """A list<int> column as a list of int64 NumPy arrays (zero-copy slices of one buffer)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        raise ValueError("null list in a token column")
    offsets = arr.offsets.to_numpy()
    values = arr.flatten().to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    base = offsets[0]
    return [values[offsets[i] - base:offsets[i + 1] - base] for i in range(len(arr))]


def _positions_from_doc_lens(lens: np.ndarray, n: int) -> np.ndarray:
    pos = np.concatenate([np.arange(k) for k in lens]) if len(lens) else np.zeros(0, np.int64)
    if len(pos) < n:  # doc_lens may omit a trailing partial document
        pos = np.concatenate([pos, np.arange(n - len(pos))])
    return pos[:n].astype(np.int64)


class RowConverter:
    """Turns a window's Arrow table into samples: dicts of int64 arrays + `n` trained targets."""

    def __init__(self, kind: str, *, seq_len: int, tokenizer: Any = None, eos_id: int | None = None,
                 max_len: int | None = None, doc_attention: bool = True):
        self.kind, self.seq_len, self.tok, self.eos_id, self.max_len = (
            kind,
            seq_len,
            tokenizer,
            eos_id,
            max_len,
        )
        self.doc_attention = doc_attention
        if kind == "text" and (tokenizer is None or eos_id is None):
            raise ValueError("text shards need a tokenizer with an EOS token to be tokenized on the fly")

    def _clip(self, a: np.ndarray) -> np.ndarray:
        return a[: self.max_len] if self.max_len else a

    def __call__(self, t: pa.Table, rng: np.random.Generator | None) -> list[dict[str, np.ndarray]]:
        k, out = self.kind, []
        key = t.column(KEY_COLUMN[k])
        if key.null_count:  # rows of another kind (mixed SFT/preference output)
            t = t.filter(pc.is_valid(key))
        if k == "text":
            texts = [s for s in t.column("text").to_pylist() if s]
            if rng is not None:
                texts = [texts[i] for i in rng.permutation(len(texts))]
            if not texts:
                return []
            enc = self.tok(texts, add_special_tokens=False)["input_ids"]
            flat = np.fromiter((x for ids in enc for x in (*ids, self.eos_id)), dtype=np.int64)
            L = self.seq_len + 1
            for i in range(len(flat) // L):
                row = flat[i * L:(i + 1) * L]
                out.append({"input_ids": row[:-1], "targets": row[1:].copy()})
        elif k == "tokens":
            ids = _lists(t.column("input_ids"))
            names = set(t.column_names)
            mask = _lists(t.column("loss_mask")) if "loss_mask" in names else None
            n_pad = t.column("n_pad").to_numpy(zero_copy_only=False) if "n_pad" in names else None
            docs = self.doc_attention
            pos = _lists(t.column("position_ids")) if docs and "position_ids" in names else None
            dl = _lists(t.column("doc_lens")) if docs and "doc_lens" in names and pos is None else None
            for i, row in enumerate(ids):
                row = self._clip(row)
                s = {"input_ids": row[:-1], "targets": row[1:].copy()}
                if mask is not None:
                    s["targets"][self._clip(mask[i])[1:] == 0] = IGNORE
                if n_pad is not None and n_pad[i] and n_pad[i] > 0:  # trailing padding of a task's last row
                    s["targets"][-int(n_pad[i]):] = IGNORE
                if pos is not None:
                    s["position_ids"] = self._clip(pos[i])[:-1]
                elif dl is not None:
                    s["position_ids"] = _positions_from_doc_lens(dl[i], len(row))[:-1]
                if "position_ids" in s:
                    # the first token of a document is not predicted from the previous document
                    nxt = np.append(s["position_ids"][1:], 1)
                    s["targets"][nxt == 0] = IGNORE
                out.append(s)
        elif k == "sft":
            ids, labels = _lists(t.column("input_ids")), _lists(t.column("labels"))
            pos = _lists(t.column("position_ids")) if "position_ids" in t.column_names else None
            for i, row in enumerate(ids):
                row, lab = self._clip(row), self._clip(labels[i])
                s = {"input_ids": row, "targets": np.append(lab[1:], IGNORE)}
                if pos is not None:
                    s["position_ids"] = self._clip(pos[i])
                out.append(s)
        elif k == "dpo":
            cols = {c: _lists(t.column(c)) for c in COLUMNS["dpo"]}
            for i in range(t.num_rows):
                s = {}
                for side in ("chosen", "rejected"):
                    row = self._clip(cols[f"{side}_input_ids"][i])
                    lab = self._clip(cols[f"{side}_labels"][i])
                    s[f"{side}_input_ids"], s[f"{side}_targets"] = row, np.append(lab[1:], IGNORE)
                out.append(s)
        for s in out:
            if k == "dpo":
                s["n"] = 1  # DPO normalises over pairs
            else:
                s["n"] = int((s["targets"] != IGNORE).sum())
        if rng is not None:
            out = [out[i] for i in rng.permutation(len(out))]
        return out


class ShardStream:
    """Deterministic, resumable stream of samples for one rank. State = (epoch, window, offset)."""

    def __init__(self, units: list[Unit], kind: str, converter: RowConverter, *, seed: int = 0,
                 rank: int = 0, world: int = 1, shuffle_buffer: int = 4096, shuffle: bool = True,
                 loop: bool = True, split_rows: bool = False):
        if not units:
            raise ValueError("no rows to train on")
        self.units, self.kind, self.conv = units, kind, converter
        self.seed, self.rank, self.world = seed, rank, world
        self.buffer, self.shuffle, self.loop = max(1, shuffle_buffer), shuffle, loop
        self.split_rows = split_rows
        cols = set(read_schema(units[0].path).names)
        if kind == "tokens" and not converter.doc_attention:  # documents are not separated: skip reading
            cols -= {"position_ids", "doc_lens"}
        self.columns = [c for c in COLUMNS[kind] if c in cols]
        self._cache: tuple[tuple[str, int], pa.Table] | None = None

    def windows(self, epoch: int) -> tuple[list[list[Unit]], bool]:
        """This rank's windows for `epoch`, and whether rows (not units) are split across ranks."""
        order = list(self.units)
        if self.shuffle:
            perm = np.random.default_rng([self.seed, epoch, 7]).permutation(len(order))
            order = [order[i] for i in perm]
        row_split = self.split_rows or len(order) < self.world
        mine = order if row_split else order[self.rank::self.world]
        wins, cur, n = [], [], 0
        for u in mine:
            cur.append(u)
            n += u.rows
            if n >= self.buffer:
                wins.append(cur)
                cur, n = [], 0
        if cur:
            wins.append(cur)
        return wins, row_split

    def _read(self, u: Unit) -> pa.Table:
        key = (u.path, u.row_group)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, open_parquet(u.path).read_row_group(u.row_group, columns=self.columns))
        return self._cache[1].slice(u.start, u.rows)

    def window_samples(self, epoch: int, w: int, units: list[Unit], row_split: bool) -> list[dict]:
        t = pa.concat_tables([self._read(u) for u in units])
        if row_split:
            t = t.take(np.arange(self.rank, t.num_rows, self.world))
        rng = np.random.default_rng([self.seed, epoch, self.rank, w]) if self.shuffle else None
        return self.conv(t, rng)

    def __call__(
        self, state: tuple[int, int, int] = (0, 0, 0)
    ) -> Iterator[tuple[dict, tuple[int, int, int]]]:
        epoch, w, off = state
        while True:
            wins, row_split = self.windows(epoch)
            produced = False
            while w < len(wins):
                samples = self.window_samples(epoch, w, wins[w], row_split)
                for i in range(off, len(samples)):
                    produced = True
                    yield samples[i], (epoch, w, i + 1)
                w, off = w + 1, 0
            if not self.loop:
                return
            if not produced and epoch == state[0] and state[1:] == (0, 0):
                raise ValueError("the training data yields no samples (text shorter than one seq_len row?)")
            epoch, w, off = epoch + 1, 0, 0


def collate(
    samples: list[dict], pad_id: int, pad_to: int | None = None, multiple: int = 8
) -> dict[str, torch.Tensor]:
    """Pad samples into (B, T) tensors: input_ids, targets, optional position_ids, and `n`."""
    if "chosen_input_ids" in samples[0]:
        flat = [{"input_ids": s[f"{side}_input_ids"], "targets": s[f"{side}_targets"], "n": 0}
                for side in ("chosen", "rejected") for s in samples]
        b = collate(flat, pad_id, pad_to, multiple)
        b["n"] = torch.tensor(len(samples))
        return b
    T = max(len(s["input_ids"]) for s in samples)
    if pad_to:
        T = max(T, pad_to)
    T = (T + multiple - 1) // multiple * multiple
    B = len(samples)
    ids = np.full((B, T), pad_id, np.int64)
    tgt = np.full((B, T), IGNORE, np.int64)
    has_pos = any("position_ids" in s for s in samples)
    pos = np.zeros((B, T), np.int64) if has_pos else None
    for i, s in enumerate(samples):
        n = len(s["input_ids"])
        ids[i, :n], tgt[i, :n] = s["input_ids"], s["targets"]
        if has_pos:
            p = s.get("position_ids")
            p = np.arange(n) if p is None else p
            pos[i, :n] = p
            start = (p[-1] + 1) if n else 0  # padding continues the last sequence's positions
            pos[i, n:] = np.arange(start, start + T - n)
    out = {"input_ids": torch.from_numpy(ids), "targets": torch.from_numpy(tgt),
           "n": torch.tensor(sum(s["n"] for s in samples))}
    if has_pos:
        out["position_ids"] = torch.from_numpy(pos)
    return out


def batches(stream: ShardStream, batch_size: int, pad_id: int, state=(0, 0, 0), pad_to: int | None = None,
            multiple: int = 8) -> Iterator[tuple[dict[str, torch.Tensor], tuple[int, int, int]]]:
    """Batches of `batch_size` samples with the stream state after the batch's last sample."""
    buf, st = [], state
    for s, st in stream(state):
        buf.append(s)
        if len(buf) == batch_size:
            yield collate(buf, pad_id, pad_to, multiple), st
            buf = []
    if buf:
        yield collate(buf, pad_id, pad_to, multiple), st


class Prefetcher:
    """Runs a batch iterator in a background thread, `depth` batches ahead, pinning host memory.

    The consumer moves batches to the device with non_blocking copies, so reading and collating
    overlap with the GPU's work on the previous step.
    """

    _END = object()

    def __init__(self, it: Iterator, depth: int = 4, pin: bool = False):
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.pin = pin
        self.t = threading.Thread(target=self._run, args=(it,), daemon=True)
        self.t.start()

    def _run(self, it: Iterator) -> None:
        try:
            for b, st in it:
                if self.pin:
                    b = {k: v.pin_memory() if v.dim() else v for k, v in b.items()}
                while not self._stop.is_set():
                    try:
                        self.q.put((b, st), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self.q.put(self._END)
        except BaseException as e:  # surfaced in the consumer
            self.q.put(e)

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self):
        item = self.q.get()
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        while self.t.is_alive():
            try:
                self.q.get(timeout=0.05)
            except queue.Empty:
                pass
