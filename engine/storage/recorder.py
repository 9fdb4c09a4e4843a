"""Trajectory recorder: states every K steps, observables, and the preset that made them.

Files say how they were made: every format embeds the preset (TOML text) and
a JSON metadata record (``metadata_json``: the model, the preset's title,
parameters and seed, the snapshot interval ``every``, the versions of Attractor
Lab, torch, numpy and h5py, the compression, and what the writer adds).

Layout (``FORMAT_VERSION`` 2): ``step`` and ``time`` (one entry a snapshot);
``state/NAME``, the model's arrays stacked per snapshot; ``theory/NAME``, the
arrays the model declares as theory (:attr:`engine.models.base.Model.theory_fields`:
curves that follow from the parameters alone, such as a dispersion relation),
stored once when they stayed the same over the recording, else per snapshot
(``metadata.theory``: name → ``"constant"`` or ``"per_snapshot"``);
``obs/NAME``, the observables. HDF5 uses groups (``state``, ``theory``, ``obs``)
and attributes (``preset_toml``, ``metadata_json``); NPZ uses the same names as
keys. Files of version 1 (no theory group: theory arrays were among the
states) are read by :func:`load_trajectory` as they are.

Compression is the default: HDF5 datasets are chunked one snapshot a chunk,
byte-shuffled and gzip-compressed; NPZ members are deflated. Floating-point
values smaller than the field's own float resolution at its scale
(``|x| < eps · max|x|`` per field and snapshot, ``eps`` the dtype's) are written
as 0 — decayed noise such as Gray–Scott's ``v ≈ 1e-30`` far from the pattern
carries random mantissa bits that no compressor can shrink, and no sum with
the field's values can see it. ``lossless=True`` keeps every bit;
``compress=False`` writes raw arrays.

Writes are atomic: an exclusive temporary file beside the target, then a
rename; a failed or cancelled write leaves neither the target nor the
temporary file. A :class:`SaveControl` reports progress (``done`` of
``total``) and cancels a save in progress (:class:`SaveCancelled`); once the
rename is done the save can no longer be cancelled. HDF5 files are built in
memory and written with Python's own calls, because libhdf5 crashes the
process when a write fails on a full disk. :class:`CsvStream` writes
observables row by row for runs that keep no state.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import math
import os
import sys
import threading
import tomllib
import zipfile
from pathlib import Path

import numpy as np

from attractor_lab.engine.files import exclusive_temp, remove_stale_temps, write_atomically

FORMATS = (".npz", ".h5", ".hdf5", ".csv")
#: the layout written by :meth:`Recorder.save` (1: theory arrays among the states, no theory group)
FORMAT_VERSION = 2
#: gzip level of HDF5 datasets (with the byte shuffle): level 4 writes about as small as 6, faster
GZIP_LEVEL = 4
#: zlib level of NPZ members
ZIP_LEVEL = 4
#: an in-memory HDF5 image goes to disk in pieces of this size (a cancel is seen between them)
WRITE_PIECE = 4 << 20


class SaveCancelled(Exception):
    """A save was cancelled before its file was renamed into place; nothing was written."""


class SaveControl:
    """Progress and cancellation of one :meth:`Recorder.save`, shared with another thread.

    ``done`` of ``total`` units (a unit: one snapshot of one array, one theory
    array, the final write) and ``stage`` (``preparing``, ``compressing``,
    ``writing``, ``done``) may be read at any time. :meth:`cancel` makes the
    save raise :class:`SaveCancelled` at its next unit and remove its temporary
    file; it returns False when the file was already renamed into place (the
    save completed: too late to cancel).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.cancelled = False
        self.committed = False
        self.done = 0
        self.total = 0
        self.stage = "preparing"

    def cancel(self) -> bool:
        with self._lock:
            if self.committed:
                return False
            self.cancelled = True
            return True

    def check(self) -> None:
        if self.cancelled:
            raise SaveCancelled("save cancelled; nothing was written")

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.check()

    def commit(self, rename) -> None:
        """Rename into place unless cancelled, atomically with respect to :meth:`cancel`."""
        with self._lock:
            self.check()
            rename()
            self.committed = True
            self.stage = "done"

    def describe(self) -> dict:
        return {"stage": self.stage, "done": self.done, "total": self.total}


class RecordingFull(RuntimeError):
    """The recording reached its memory budget; it stops and keeps what it has."""


class Recorder:
    """Collect snapshots of a model in memory.

    Parameters
    ----------
    every : int
        Record one snapshot every ``every`` steps (the caller steps to multiples of it).
        It is what the file's metadata says, whether or not recording goes on.
    arrays : sequence of str, optional
        Names of ``state()`` arrays to keep; default: all of them.
    max_bytes : int
        Memory budget; :meth:`capture` raises :class:`RecordingFull` past it so
        that nothing a user does can grow the engine without bound.
    theory : sequence of str, optional
        Names of arrays that are theory (the model's ``theory_fields``): a
        capture equal to the previous one shares it (no memory), and the file
        keeps them apart from the states. None: looked up at save time from the
        model the preset names (``engine.models``), else none.
    """

    def __init__(self, every: int = 1, arrays=None, max_bytes: int = 1 << 30, theory=None):
        if int(every) < 1:
            raise ValueError(f"record: every must be >= 1, not {every}")
        self.every = int(every)
        self.arrays = list(arrays) if arrays else None
        self.max_bytes = int(max_bytes)
        self.theory = tuple(theory) if theory is not None else None
        self.nbytes = 0
        self.steps: list[int] = []
        self.times: list[float] = []
        self.frames: dict[str, list[np.ndarray]] = {}
        self.observables: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def capture(self, step: int, time: float, state: dict[str, np.ndarray], observables: dict[str, float]) -> None:
        keep, size = {}, 8 * (len(observables) + 2)
        for k, v in state.items():
            if self.arrays is not None and k not in self.arrays:
                continue
            last = self.frames.get(k)
            if self.theory is not None and k in self.theory and last and _same(last[-1], v):
                keep[k] = last[-1]  # unchanged theory: shared with the previous snapshot
                continue
            keep[k] = np.array(v, copy=True)
            size += keep[k].nbytes
        if self.nbytes + size > self.max_bytes:
            budget = f"{self.max_bytes / 2**20:.0f} MiB budget"
            if not self.steps:  # recording less often cannot help: one snapshot is too big
                raise RecordingFull(
                    f"nothing recorded: one snapshot ({size / 2**20:.1f} MiB) is over the {budget}; "
                    f"record fewer arrays, a smaller grid, or raise the budget")
            raise RecordingFull(
                f"recording stopped at {len(self)} snapshots: the next would pass the "
                f"{budget}; record less often (every > {self.every})"
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
        snap = Recorder(self.every, self.arrays, self.max_bytes, self.theory)
        snap.nbytes = self.nbytes
        snap.steps, snap.times = list(self.steps), list(self.times)
        snap.frames = {k: list(v) for k, v in self.frames.items()}
        snap.observables = {k: list(v) for k, v in self.observables.items()}
        return snap

    def stacked(self) -> dict[str, np.ndarray]:
        """Every kept array (states and theory) stacked per snapshot; arrays whose shape
        changed during the recording are left out."""
        out = {}
        for k, seq in self.frames.items():
            if all(a.shape == seq[0].shape for a in seq):
                out[k] = np.stack(seq)
        return out

    def theory_names(self, preset_toml: str = "") -> tuple[str, ...]:
        """The names kept apart as theory: :attr:`theory`, else the ``theory_fields`` of
        the model the preset names (importing the model registry), else none."""
        if self.theory is not None:
            return self.theory
        model = _parse_toml(preset_toml).get("model")
        if not isinstance(model, str):
            return ()
        try:
            from attractor_lab.engine.models import get

            return tuple(get(model).theory_fields or ())
        except Exception:  # an unknown model, or no torch here: no theory to split off
            return ()

    def parts(self, preset_toml: str = ""):
        """``(states, theory, kinds, dropped)``: states as lists of per-snapshot arrays;
        theory as one array (``kinds[name] == "constant"``) or a list per snapshot
        (``"per_snapshot"``); ``dropped``, the names whose shape changed while recording."""
        names = set(self.theory_names(preset_toml))
        states, theory, kinds, dropped = {}, {}, {}, []
        for k, seq in self.frames.items():
            if k in names and all(a is seq[0] or _same(a, seq[0]) for a in seq[1:]):
                theory[k], kinds[k] = seq[0], "constant"
            elif not all(a.shape == seq[0].shape for a in seq):
                dropped.append(k)
            elif k in names:
                theory[k], kinds[k] = seq, "per_snapshot"
            else:
                states[k] = seq
        return states, theory, kinds, dropped

    def save(self, path: str | os.PathLike, preset_toml: str = "", metadata: dict | None = None, *,
             compress: bool = True, lossless: bool = False, control: SaveControl | None = None) -> Path:
        """Write the recording; the format follows the suffix (.npz, .h5/.hdf5, .csv).

        ``compress`` (default): gzip with the byte shuffle, one chunk a snapshot (HDF5),
        deflated members (NPZ). ``lossless=False`` (default) writes values below a
        field's float resolution at its scale as 0 (see the module's docstring).
        ``control`` reports progress and cancels (:class:`SaveCancelled`, nothing written).
        """
        path = Path(path)
        control = control if control is not None else SaveControl()
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"cannot save a trajectory as {path.name!r}: use one of {', '.join(FORMATS)}")
        if suffix == ".csv":
            control.total = 1
            text = self.observables_csv().encode()
            control.stage = "writing"
            _write_atomically(path, lambda f: f.write(text), control)
            control.done = 1
            return path
        states, theory, kinds, dropped = self.parts(preset_toml)
        control.total = sum(len(s) for s in states.values()) + len(theory) + 1
        fmt = "hdf5" if suffix in (".h5", ".hdf5") else "npz"
        meta = self.metadata(preset_toml, metadata, fmt, states, kinds, dropped, compress, lossless)
        control.check()
        control.stage = "compressing" if compress else "copying"
        if fmt == "npz":
            self._save_npz(path, preset_toml, meta, states, theory, compress, lossless, control)
        else:
            self._save_h5(path, preset_toml, meta, states, theory, compress, lossless, control)
        control.done = control.total
        return path

    def metadata(self, preset_toml: str, extra: dict | None, fmt: str, states: dict, kinds: dict,
                 dropped: list, compress: bool, lossless: bool) -> str:
        """The file's ``metadata_json``: what made it (from the preset), how it is laid
        out and compressed, the versions; ``extra`` (the writer's: device, parameter
        changes) is merged in, but cannot change the interval or the layout."""
        preset = _parse_toml(preset_toml)
        meta: dict = {}
        for key in ("model", "title", "description", "seed", "params"):
            if key in preset:
                meta[key] = preset[key]
        extra = dict(extra or {})
        versions = {**_versions(fmt), **extra.pop("versions", {})}
        meta.update(extra)
        if compress:
            how = (f"gzip level {GZIP_LEVEL}, byte shuffle, one chunk a snapshot" if fmt == "hdf5"
                   else f"zip deflate level {ZIP_LEVEL}")
        else:
            how = "none"
        meta.update({
            "format_version": FORMAT_VERSION,
            "every": self.every,
            "snapshots": len(self),
            "first_step": self.steps[0] if self.steps else None,
            "last_step": self.steps[-1] if self.steps else None,
            "state_fields": sorted(states),
            "theory": dict(sorted(kinds.items())),
            "observables": sorted(self.observables),
            "compression": how,
            "tiny_values": ("kept (lossless)" if lossless else
                            "written as 0 where |x| < eps * max|x| (per float array and snapshot)"),
            "versions": versions,
        })
        if dropped:
            meta["dropped_fields"] = sorted(dropped)  # their shape changed while recording
        meta.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        return json.dumps(meta, default=str)

    def observables_csv(self) -> str:
        buf = io.StringIO()
        names = sorted(self.observables)
        w = csv.writer(buf)
        w.writerow(["step", "time", *names])
        for i, (s, t) in enumerate(zip(self.steps, self.times)):
            w.writerow([s, repr(t), *(repr(self.observables[n][i]) for n in names)])
        return buf.getvalue()

    def _save_npz(self, path, preset_toml, meta, states, theory, compress, lossless, control) -> None:
        flush = (lambda a: a) if lossless else _flush_tiny

        def put(zf, name, arr):
            arr = np.asanyarray(arr)
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, arr, allow_pickle=False)

        def put_stack(zf, name, seq, transform):
            dtype = _common_dtype(seq)
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (len(seq), *seq[0].shape)}
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array_header_2_0(out, header)
                for a in seq:  # snapshot after snapshot: no stacked copy in memory
                    a = np.ascontiguousarray(transform(np.asarray(a, dtype=dtype)))
                    out.write(a.reshape(-1).view(np.uint8).data)
                    control.advance()

        def writer(f):
            method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            with zipfile.ZipFile(f, "w", method, allowZip64=True,
                                 compresslevel=ZIP_LEVEL if compress else None) as zf:
                put(zf, "step", np.asarray(self.steps, dtype=np.int64))
                put(zf, "time", np.asarray(self.times, dtype=np.float64))
                put(zf, "preset_toml", np.asarray(preset_toml))
                put(zf, "metadata_json", np.asarray(meta))
                for k, seq in states.items():
                    put_stack(zf, f"state/{k}", seq, flush)
                for k, v in theory.items():
                    if isinstance(v, list):
                        put_stack(zf, f"theory/{k}", v, lambda a: a)
                        control.done -= len(v) - 1  # a theory array counts once
                    else:
                        put(zf, f"theory/{k}", v)
                        control.advance()
                for k, v in self.observables.items():
                    put(zf, f"obs/{k}", np.asarray(v, dtype=np.float64))
                control.stage = "writing"

        _write_atomically(path, writer, control)

    def _save_h5(self, path, preset_toml, meta, states, theory, compress, lossless, control) -> None:
        import h5py  # only needed for this format

        flush = (lambda a: a) if lossless else _flush_tiny

        def dataset(group, name, seq, transform, count):
            dtype = _common_dtype(seq)
            shape = (len(seq), *seq[0].shape)
            ds = group.create_dataset(name, shape=shape, dtype=dtype, **_h5_options(shape, dtype, compress))
            for i, a in enumerate(seq):  # one chunk a snapshot, compressed as it is written
                ds[i] = transform(np.asarray(a, dtype=dtype))
                if count:
                    control.advance()

        # built in memory: libhdf5 segfaults when the disk fills under it; Python's writes raise
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            f.attrs["preset_toml"] = preset_toml
            f.attrs["metadata_json"] = meta
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["every"] = self.every
            f.create_dataset("step", data=np.asarray(self.steps, dtype=np.int64))
            f.create_dataset("time", data=np.asarray(self.times, dtype=np.float64))
            g = f.create_group("state")
            for k, seq in states.items():
                dataset(g, k, seq, flush, True)
            t = f.create_group("theory")
            for k, v in theory.items():
                if isinstance(v, list):
                    dataset(t, k, v, lambda a: a, False)
                    t[k].attrs["per_snapshot"] = True
                else:
                    v = np.asarray(v)
                    t.create_dataset(k, data=v, **_h5_options((1, *v.shape), v.dtype, compress and v.size > 0))
                control.advance()
            o = f.create_group("obs")
            for k, v in self.observables.items():
                o.create_dataset(k, data=np.asarray(v, dtype=np.float64))
        control.stage = "writing"
        view = buf.getbuffer()

        def write(out):
            for start in range(0, len(view), WRITE_PIECE):
                control.check()
                out.write(view[start:start + WRITE_PIECE])

        try:
            _write_atomically(path, write, control)
        finally:
            view.release()


def _h5_options(shape: tuple, dtype, compress: bool) -> dict:
    """Chunking and filters of a dataset of snapshots ``shape`` = (count, *one)."""
    one = shape[1:]
    itemsize = np.dtype(dtype).itemsize
    if not compress or 0 in shape or np.dtype(dtype).kind not in "biuf":
        return {}
    per = math.prod(one) * itemsize
    if not one or per < 4096:  # small snapshots: h5py's own chunking (a chunk of one would be mostly overhead)
        chunks = True
    elif per > 1 << 30:  # HDF5 chunks stay under 4 GiB
        chunks = True
    else:
        chunks = (1, *one)
    opts = {"chunks": chunks, "compression": "gzip", "compression_opts": GZIP_LEVEL}
    if itemsize > 1:
        opts["shuffle"] = True
    return opts


def _flush_tiny(a: np.ndarray) -> np.ndarray:
    """``a`` with values below its float resolution at its scale (``|x| < eps · max|x|``,
    the largest finite magnitude) written as 0; other dtypes unchanged."""
    if a.dtype.kind != "f" or a.size == 0:
        return a
    mag = np.abs(a)
    top = mag.max()
    if not np.isfinite(top):
        finite = mag[np.isfinite(mag)]
        top = finite.max() if finite.size else 0.0
    tiny = mag < np.finfo(a.dtype).eps * top
    if not tiny.any():
        return a
    out = a.copy()
    out[tiny] = 0
    return out


def _common_dtype(seq) -> np.dtype:
    """The dtype ``np.stack(seq)`` would have."""
    return functools.reduce(np.promote_types, (a.dtype for a in seq))


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    try:
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    except TypeError:
        return False


def _parse_toml(text: str) -> dict:
    try:
        data = tomllib.loads(text) if text else {}
    except (tomllib.TOMLDecodeError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _versions(fmt: str) -> dict:
    """Versions of what wrote the file (torch only when it is loaded or installed)."""
    from importlib import metadata

    from attractor_lab.engine import __version__

    out = {"attractor_lab": __version__, "numpy": np.__version__,
           "python": ".".join(map(str, sys.version_info[:3]))}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
    else:
        try:
            out["torch"] = metadata.version("torch")
        except metadata.PackageNotFoundError:
            pass
    if fmt == "hdf5":
        import h5py

        out["h5py"] = h5py.__version__
        out["hdf5"] = h5py.version.hdf5_version
    return out


def _write_atomically(path: Path, writer, control: SaveControl) -> None:
    """:func:`engine.files.write_atomically` with the rename under ``control``: a cancel
    either comes before it (the temporary file is removed, ``path`` untouched) or after
    (the save is complete)."""
    write_atomically(path, writer, commit=control.commit)


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
    """Read a trajectory written by :meth:`Recorder.save` (NPZ or HDF5), without pickle.

    Keys: ``step``, ``time``, ``state/NAME``, ``theory/NAME`` (files of format 2),
    ``obs/NAME``, ``preset_toml`` and ``metadata_json`` (strings; see
    :func:`trajectory_metadata`). Files of format 1 have no theory keys: their
    theory arrays are among the states, stacked per snapshot.
    """
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
        for group in ("state", "theory", "obs"):
            if group in f:
                for k in f[group]:
                    data[f"{group}/{k}"] = f[group][k][()]
    return data


def trajectory_metadata(data: dict) -> dict:
    """The metadata of a trajectory read by :func:`load_trajectory`, as a dict."""
    try:
        meta = json.loads(data.get("metadata_json") or "{}")
    except ValueError:
        return {}
    meta = meta if isinstance(meta, dict) else {}
    meta.setdefault("format_version", 1)
    return meta
