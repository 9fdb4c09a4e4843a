"""The results of a sweep: a Zarr store, written by the client alone, readable at every moment.

Layout (a Zarr v3 group, a folder)::

    results.zarr/
      zarr.json        attributes: format, the sweep file (base preset inline), axes, seeds,
                       outputs, theory lines, versions, the history of runs
      <output>/        one float64 array per kept output, shape (y, x, seed) or (x, seed);
                       NaN until the point is done (pattern outputs hold codes of PATTERN_CODES)
      status/          int8: 0 pending, 1 done, 2 failed — written last, so a value is only
                       ever read as done once it is on disk
      steps/, seconds/ steps each point ran (fewer after an early stop) and its wall time
      errors/          a group whose attributes map a failed point's index to its message
      writer.lock      while a writer has it open: its pid and host (a new store arrives with
                       its creator's lock already in it, so two writers never both start)

Every file of the store is replaced atomically (zarr's LocalStore writes a
temporary file and renames it), the store itself is built in a temporary
folder and renamed into place, and the status array goes to disk after the
values it vouches for: a killed writer (SIGKILL included) leaves a store
whose done points are all complete and whose other points are simply not
done. :class:`StoreWriter` resumes from it.

This module needs numpy and zarr only (no torch): the GUI reads stores with it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attractor_lab.engine.files import pid_alive
from attractor_lab.engine.sweep import EXTRA_HINT

STORE_FORMAT = "attractor-lab sweep results"
STORE_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
RESERVED = ("status", "steps", "seconds", "errors")
LOCK_NAME = "writer.lock"


class StoreError(ValueError):
    """A store that cannot be opened or written as asked; the message says why and what to do."""


def zarr_module():
    try:
        import zarr
    except ImportError:
        raise StoreError(f"sweep results are Zarr stores and zarr is not installed; {EXTRA_HINT}") from None
    return zarr


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunks of whole rows along the first axis: a flush rewrites only the rows that changed."""
    row = int(np.prod(shape[1:]))
    rows = max(1, min(shape[0], 65536 // max(row, 1)))
    return (rows,) + tuple(shape[1:])


def create_store(path: str | os.PathLike, shape: tuple[int, ...], outputs: list[str], attrs: dict) -> Path:
    """Create an empty store at ``path`` (which must not exist): built beside it, renamed into place.

    The store arrives already locked by this process (its ``writer.lock`` is written in the
    build folder), so that a second process starting the same sweep at the same moment never
    sees it unlocked: the first :class:`StoreWriter` this process opens on it takes that lock
    over. Losing the race to another process raises :class:`StoreError` ("being written by
    process N"), never a bare ``OSError``."""
    zarr = zarr_module()
    path = Path(path)
    if path.exists():
        raise StoreError(f"{path} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(path)
    tmp = path.with_name(f".{path.name}.build-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        root = zarr.open_group(str(tmp), mode="w-")
        chunks = _chunks(shape)
        for name in outputs:
            root.create_array(name, shape=shape, chunks=chunks, dtype="float64", fill_value=np.nan)
        root.create_array("status", shape=shape, chunks=chunks, dtype="int8", fill_value=PENDING)
        root.create_array("steps", shape=shape, chunks=chunks, dtype="int64", fill_value=0)
        root.create_array("seconds", shape=shape, chunks=chunks, dtype="float64", fill_value=np.nan)
        root.create_group("errors")
        root.attrs.update({"format": STORE_FORMAT, "format_version": STORE_VERSION, **attrs})
        (tmp / LOCK_NAME).write_text(json.dumps({**_me(), "creating": True}))
        try:
            os.rename(tmp, path)
        except OSError as exc:
            # another process renamed its store into place first (POSIX: ENOTEMPTY or EEXIST;
            # Windows: FileExistsError)
            if not (isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY)):
                raise
            raise StoreError(_taken_message(path)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


def _read_lock(lock: Path) -> dict:
    try:
        other = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return other if isinstance(other, dict) else {}


def _taken_message(path: Path) -> str:
    """The one line for a store another process holds (or has just made)."""
    lock = path / LOCK_NAME
    other = _read_lock(lock)
    pid, host = other.get("pid"), other.get("host")
    if pid is None:  # its writer already finished (or it is not ours): say so plainly
        return (f"{path} was created by another process while this one was creating it; run the same "
                "command again to resume it, or choose another --out")
    return (f"{path} is being written by process {pid} on {host}; stop that sweep first "
            f"(or remove {lock} if that process is gone)")


def _remove_stale_builds(path: Path) -> None:
    for old in path.parent.glob(f".{path.name}.build-*"):
        try:
            pid = int(old.name.rsplit(".build-", 1)[1].split("-")[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            shutil.rmtree(old, ignore_errors=True)


class StoreWriter:
    """The one writer of a store: keeps a copy of its arrays, writes changed rows on
    :meth:`flush` (values first, status last) and holds ``writer.lock`` while open."""

    def __init__(self, path: str | os.PathLike):
        zarr = zarr_module()
        self.path = Path(path)
        self._take_lock()
        try:
            self.root = zarr.open_group(str(self.path), mode="r+")
            self.attrs = dict(self.root.attrs)
            if self.attrs.get("format") != STORE_FORMAT:
                raise StoreError(f"{self.path} is not a sweep results store")
            for leftover in self.path.rglob("*.partial"):  # a write a killed writer never finished
                leftover.unlink(missing_ok=True)
            self.outputs = [o["name"] for o in self.attrs["outputs"]]
            self.arrays = {name: self.root[name] for name in self.outputs + ["steps", "seconds", "status"]}
            self.data = {name: arr[...] for name, arr in self.arrays.items()}
            self.errors = dict(self.root["errors"].attrs)
            self.shape = tuple(self.data["status"].shape)
            self.rows = self.arrays["status"].chunks[0]
        except BaseException:
            self._release_lock()
            raise
        self._dirty: set[int] = set()
        self._errors_dirty = False

    # ---- the lock ------------------------------------------------------------------
    def _take_lock(self) -> None:
        lock = self.path / LOCK_NAME
        me = _me()
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                other = _read_lock(lock)
                pid, host = other.get("pid"), other.get("host")
                if host == me["host"] and pid == me["pid"] and other.get("creating"):
                    # the lock create_store left for this process: take it over
                    lock.write_text(json.dumps(me))
                    return
                if host == me["host"] and isinstance(pid, int) and not pid_alive(pid):
                    lock.unlink(missing_ok=True)  # its writer is gone (killed): take over
                    continue
                raise StoreError(_taken_message(self.path)) from None
            except FileNotFoundError:
                raise StoreError(f"{self.path} is not a sweep results store (no such folder)") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return
        raise StoreError(f"cannot take {lock}")

    def _release_lock(self) -> None:
        (self.path / LOCK_NAME).unlink(missing_ok=True)

    # ---- writing ------------------------------------------------------------------------
    def status(self) -> np.ndarray:
        return self.data["status"]

    def update_attrs(self, **attrs) -> None:
        self.root.attrs.update(attrs)
        self.attrs.update(attrs)

    def record(self, result: dict[str, Any]) -> None:
        """Keep one point's result (a dict from :func:`engine.sweep.worker.run_point`)."""
        where = np.unravel_index(int(result["index"]), self.shape)
        for name in self.outputs:
            self.data[name][where] = result["values"].get(name, np.nan) if result["ok"] else np.nan
        self.data["steps"][where] = int(result.get("steps", 0))
        self.data["seconds"][where] = float(result.get("seconds", np.nan))
        self.data["status"][where] = DONE if result["ok"] else FAILED
        key = str(int(result["index"]))
        if not result["ok"]:
            self.errors[key] = str(result.get("error") or "failed")
            self._errors_dirty = True
        elif key in self.errors:  # a retried point that now succeeded
            del self.errors[key]
            self._errors_dirty = True
        self._dirty.add(int(where[0]) // self.rows)

    def flush(self) -> None:
        """Write the rows changed since the last flush: values, steps, seconds and errors
        first, the status (which says they are done) last."""
        if not self._dirty and not self._errors_dirty:
            return
        blocks = sorted(self._dirty)
        for name in self.outputs + ["steps", "seconds"]:
            self._write(name, blocks)
        if self._errors_dirty:
            self.root["errors"].attrs.put(dict(self.errors))
            self._errors_dirty = False
        self._write("status", blocks)
        self._dirty.clear()

    def _write(self, name: str, blocks: list[int]) -> None:
        arr, data = self.arrays[name], self.data[name]
        for b in blocks:
            lo, hi = b * self.rows, min((b + 1) * self.rows, self.shape[0])
            arr[lo:hi] = data[lo:hi]

    def reset_failed(self) -> int:
        """Mark failed points pending again (a retry); returns how many."""
        failed = self.data["status"] == FAILED
        n = int(failed.sum())
        if n:
            self.data["status"][failed] = PENDING
            for row in np.unique(np.nonzero(failed)[0]):
                self._dirty.add(int(row) // self.rows)
            self.flush()
        return n

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._release_lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class SweepResults:
    """A snapshot of a store, as numpy arrays (values of points not done are NaN)."""

    path: Path
    attrs: dict
    status: np.ndarray
    values: dict[str, np.ndarray]
    steps: np.ndarray
    seconds: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def axes(self) -> list[dict]:
        return self.attrs["axes"]

    @property
    def seeds(self) -> list[int]:
        return self.attrs["seeds"]

    @property
    def model(self) -> str:
        return self.attrs["model"]

    @property
    def outputs(self) -> list[dict]:
        return self.attrs["outputs"]

    @property
    def theory(self) -> list[dict]:
        return self.attrs.get("theory", [])

    @property
    def total(self) -> int:
        return int(self.status.size)

    @property
    def done(self) -> int:
        return int((self.status == DONE).sum())

    @property
    def failed(self) -> int:
        return int((self.status == FAILED).sum())

    def output(self, name: str) -> dict:
        for o in self.outputs:
            if o["name"] == name:
                return o
        raise KeyError(f"{self.path} keeps no output {name!r}; it keeps {', '.join(self.values)}")

    def over_seeds(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, spread, count) across seeds per grid point: mean and standard error of
        the mean for observables; the most frequent class, and the fraction of seeds that
        agree with it, for patterns. NaN where no seed is done."""
        v = np.where(self.status == DONE, self.values[name], np.nan)
        count = np.sum(np.isfinite(v), axis=-1)
        if self.output(name).get("kind") == "pattern":
            codes = len(self.output(name).get("classes", ())) or 8
            hist = np.stack([np.sum(v == c, axis=-1) for c in range(codes)], axis=-1)
            centre = np.where(count > 0, np.argmax(hist, axis=-1).astype(float), np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                spread = np.where(count > 0, hist.max(axis=-1) / np.maximum(count, 1), np.nan)
            return centre, spread, count
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.nansum(v, axis=-1)
            centre = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            dev = np.where(np.isfinite(v), v - centre[..., None], 0.0)
            var = np.sum(dev * dev, axis=-1) / np.maximum(count - 1, 1)
            spread = np.where(count > 1, np.sqrt(var / np.maximum(count, 1)), np.where(count == 1, 0.0, np.nan))
        return centre, spread, count

    def grid_point(self, ix: int, iy: int | None = None, seed_index: int = 0) -> tuple[dict, int]:
        """(parameters, seed) of the grid point (ix, iy) and seed number ``seed_index``:
        the base preset's parameters with the axis values."""
        params = dict(self.attrs["base_params"])
        params[self.axes[0]["param"]] = self.axes[0]["values"][ix]
        if len(self.axes) > 1:
            params[self.axes[1]["param"]] = self.axes[1]["values"][iy]
        return params, int(self.seeds[seed_index])


def open_results(path: str | os.PathLike) -> SweepResults:
    """Read a store (while it is written too): every array once, NaN where not done."""
    zarr = zarr_module()
    path = Path(path)
    if not (path / "zarr.json").is_file():
        raise StoreError(f"{path} is not a sweep results store (no zarr.json)")
    root = zarr.open_group(str(path), mode="r")
    attrs = dict(root.attrs)
    if attrs.get("format") != STORE_FORMAT:
        raise StoreError(f"{path} is not a sweep results store (format {attrs.get('format')!r})")
    status = root["status"][...]
    values = {}
    for o in attrs["outputs"]:
        v = root[o["name"]][...]
        values[o["name"]] = np.where(status == DONE, v, np.nan)
    errors = {int(k): v for k, v in dict(root["errors"].attrs).items()}
    return SweepResults(path, attrs, status, values, root["steps"][...], root["seconds"][...], errors)
