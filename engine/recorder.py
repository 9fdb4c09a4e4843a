"""Trajectory recorder: states every K steps, observables, and the preset that made them.

Files say how they were made: every format embeds the preset (TOML text) and
a JSON metadata record. Writes are atomic: an exclusive temporary file beside
the target, then a rename (:mod:`engine.files`); a failed write (a full disk)
raises ``OSError`` and leaves neither the target nor the temporary file.
HDF5 files are built in memory and written with Python's own calls, because
libhdf5 crashes the process when a write fails on a full disk.
:class:`CsvStream` writes observables row by row for runs that keep no state.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from engine.files import exclusive_temp, remove_stale_temps, write_atomically
from engine.protocol import atomic_write_bytes

FORMATS = (".npz", ".h5", ".hdf5", ".csv")


class RecordingFull(RuntimeError):
    """The recording reached its memory budget; it stops and keeps what it has."""


class Recorder:
    """Collect snapshots of a model in memory.

    Parameters
    ----------
    every : int
        Record one snapshot every ``every`` steps (the caller steps to multiples of it).
    arrays : sequence of str, optional
        Names of ``state()`` arrays to keep; default: all of them.
    max_bytes : int
        Memory budget; :meth:`capture` raises :class:`RecordingFull` past it so
        that nothing a user does can grow the engine without bound.
    """

    def __init__(self, every: int = 1, arrays=None, max_bytes: int = 1 << 30):
        if int(every) < 1:
            raise ValueError(f"record: every must be >= 1, not {every}")
        self.every = int(every)
        self.arrays = list(arrays) if arrays else None
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.steps: list[int] = []
        self.times: list[float] = []
        self.frames: dict[str, list[np.ndarray]] = {}
        self.observables: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def capture(self, step: int, time: float, state: dict[str, np.ndarray], observables: dict[str, float]) -> None:
        keep = {k: np.array(v, copy=True) for k, v in state.items() if self.arrays is None or k in self.arrays}
        size = sum(a.nbytes for a in keep.values()) + 8 * (len(observables) + 2)
        if self.nbytes + size > self.max_bytes:
            raise RecordingFull(
                f"recording stopped at {len(self)} snapshots: the next would pass the "
                f"{self.max_bytes / 2**20:.0f} MiB budget; record less often (every > {self.every})"
            )
        self.nbytes += size
        n = len(self.steps)
        self.steps.append(int(step))
        self.times.append(float(time))
        for k, v in keep.items():
            self.frames.setdefault(k, []).append(v)
        for k, v in observables.items():
            # an observable that appears late is padded with NaN before it
            self.observables.setdefault(k, [float("nan")] * n).append(float(v))
        for k, seq in self.observables.items():
            if len(seq) < n + 1:
                seq.append(float("nan"))

    def snapshot(self) -> "Recorder":
        """A copy to save while recording goes on (the arrays are shared, the lists are not)."""
        snap = Recorder(self.every, self.arrays, self.max_bytes)
        snap.nbytes = self.nbytes
        snap.steps, snap.times = list(self.steps), list(self.times)
        snap.frames = {k: list(v) for k, v in self.frames.items()}
        snap.observables = {k: list(v) for k, v in self.observables.items()}
        return snap

    def stacked(self) -> dict[str, np.ndarray]:
        out = {}
        for k, seq in self.frames.items():
            if all(a.shape == seq[0].shape for a in seq):
                out[k] = np.stack(seq)
        return out

    def save(self, path: str | os.PathLike, preset_toml: str = "", metadata: dict | None = None) -> Path:
        """Write the recording; the format follows the suffix (.npz, .h5/.hdf5, .csv)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"cannot save a trajectory as {path.name!r}: use one of {', '.join(FORMATS)}")
        meta = json.dumps(
            {"every": self.every, "snapshots": len(self), **(metadata or {})}, default=str
        )
        if suffix == ".npz":
            self._save_npz(path, preset_toml, meta)
        elif suffix == ".csv":
            atomic_write_bytes(path, self.observables_csv().encode())
        else:
            self._save_h5(path, preset_toml, meta)
        return path

    def observables_csv(self) -> str:
        buf = io.StringIO()
        names = sorted(self.observables)
        w = csv.writer(buf)
        w.writerow(["step", "time", *names])
        for i, (s, t) in enumerate(zip(self.steps, self.times)):
            w.writerow([s, repr(t), *(repr(self.observables[n][i]) for n in names)])
        return buf.getvalue()

    def _save_npz(self, path: Path, preset_toml: str, meta: str) -> None:
        payload = {
            "step": np.asarray(self.steps, dtype=np.int64),
            "time": np.asarray(self.times, dtype=np.float64),
            "preset_toml": np.asarray(preset_toml),
            "metadata_json": np.asarray(meta),
        }
        for k, v in self.stacked().items():
            payload[f"state/{k}"] = v
        for k, v in self.observables.items():
            payload[f"obs/{k}"] = np.asarray(v, dtype=np.float64)
        # straight into the temporary file (no in-memory copy of the archive)
        write_atomically(path, lambda f: np.savez_compressed(f, **payload))

    def _save_h5(self, path: Path, preset_toml: str, meta: str) -> None:
        import h5py  # only needed for this format

        # built in memory: libhdf5 segfaults when the disk fills under it; Python's writes raise
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            f.attrs["preset_toml"] = preset_toml
            f.attrs["metadata_json"] = meta
            f.create_dataset("step", data=np.asarray(self.steps, dtype=np.int64))
            f.create_dataset("time", data=np.asarray(self.times, dtype=np.float64))
            g = f.create_group("state")
            for k, v in self.stacked().items():
                g.create_dataset(k, data=v, compression="gzip", compression_opts=4)
            o = f.create_group("obs")
            for k, v in self.observables.items():
                o.create_dataset(k, data=np.asarray(v, dtype=np.float64))
        view = buf.getbuffer()
        try:
            write_atomically(path, lambda out: out.write(view))
        finally:
            view.release()


class CsvStream:
    """Observables written row by row to a CSV file (a run that keeps no states).

    Rows go to an exclusive temporary file beside ``path``; :meth:`close` renames
    it into place, :meth:`discard` removes it. The columns are those of the first
    row (``step``, ``time``, then the observables sorted); a later row lacking
    one writes ``nan``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        remove_stale_temps(self.path.parent if str(self.path.parent) else ".")
        fd, self.tmp = exclusive_temp(self.path)
        self.file = os.fdopen(fd, "w", newline="")
        self.writer = csv.writer(self.file)
        self.names: list[str] | None = None
        self.rows = 0

    def __len__(self) -> int:
        return self.rows

    def capture(self, step: int, time: float, observables: dict[str, float]) -> None:
        if self.names is None:
            self.names = sorted(observables)
            self.writer.writerow(["step", "time", *self.names])
        self.writer.writerow([int(step), repr(float(time)),
                              *(repr(float(observables.get(n, float("nan")))) for n in self.names)])
        self.rows += 1

    def close(self) -> Path:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def load_trajectory(path: str | os.PathLike) -> dict:
    """Read a trajectory written by :meth:`Recorder.save` (NPZ or HDF5), without pickle."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        data["preset_toml"] = str(data["preset_toml"])
        data["metadata_json"] = str(data["metadata_json"])
        return data
    import h5py

    with h5py.File(path, "r") as f:
        data = {"preset_toml": str(f.attrs["preset_toml"]), "metadata_json": str(f.attrs["metadata_json"])}
        data["step"] = f["step"][()]
        data["time"] = f["time"][()]
        for k in f["state"]:
            data[f"state/{k}"] = f["state"][k][()]
        for k in f["obs"]:
            data[f"obs/{k}"] = f["obs"][k][()]
    return data
