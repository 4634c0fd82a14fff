"""Dataset-scale evaluation behind ``lpfk eval``: FSDS, PSNR and SSIM of every SR result against its
ground truth, rows appended as they complete, resumable, sharded across torch.distributed ranks.

Pipeline (per process): a DataLoader whose workers decode one HR image and all its SR versions
per item (lpfk.evaluation.images.read_image); the main process groups consecutive pairs of one shape into
batches of at most ``batch_values`` HR values, computes the metrics batch-wise and appends the
rows. Memory is bounded by the workers' prefetch and one batch, whatever the dataset size.

Metric conventions (the numbers the columns hold):
- fsds: lpfk.fsds(SR, HR) on all channels of the (cropped) integer images, float32 on the cpp
  backend; ``fsds_normalize_by`` as in lpfk.ops.fsds.
- psnr: torchmetrics' peak_signal_noise_ratio in float64 on the images' integer scale (8-bit
  0..255, 16-bit 0..65535; an 8-bit image paired with a 16-bit one is scaled by 257 = 65535/255),
  data range = that peak. On RGB and gray integer data every squared error sums exactly.
- ssim: torchmetrics' SSIM map (Gaussian window 11 x 11, sigma 1.5, K1 0.01, K2 0.03, float32,
  data range 1) averaged over the *valid* region (5 pixels from every border left out, where the
  window would overhang), as MATLAB's ssim_index (Wang et al. 2004) and SR papers' scripts do;
  torchmetrics' own mean also counts the reflect-padded border. The mean is taken in float64 by
  numpy, whose pairwise sum does not depend on threads.
- y_channel: PSNR and SSIM on Y of ITU-R BT.601 as MATLAB's rgb2ycbcr computes it from R, G, B in
  [0, 1]: Y = 16/255 + (65.481 R + 128.553 G + 24.966 B)/255 (studio range, 16..235 of 255),
  not rounded; gray images are used as they are. FSDS stays on all channels.
- crop_border c: c pixels removed from every side of both images before every metric.
Values are written with 6 decimals. FSDS and the SSIM map do not depend on the batch size or the
thread count (checked in tests), nor the exact PSNR sums; Y-channel PSNR sums and the float64
means can differ in the 16th digit, 10 orders below the written precision.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lpfk.evaluation import results
from lpfk.evaluation.pairing import Item, Pairing
from lpfk.evaluation.results import Row
from lpfk.progress import Progress

MetricName = Literal["fsds", "psnr", "ssim"]

Y_BT601 = (65.481, 128.553, 24.966)  # R, G, B weights of MATLAB's rgb2ycbcr for values in [0, 1]
AUTO_WORKERS_MIN_PAIRS = 32
SSIM_WINDOW = 11  # torchmetrics' Gaussian window for sigma 1.5: int(3.5 sigma + 0.5) * 2 + 1
_SSIM_BORDER = SSIM_WINDOW // 2


@dataclass
class EvalSettings:
    """What determines the values of a row (a resumed run must use the same)."""

    metrics: tuple[str, ...] = ("fsds", "psnr", "ssim")
    crop_border: int = 0
    y_channel: bool = False
    fsds_normalize_by: Literal["target", "prediction"] = "target"

    def __post_init__(self):
        self.metrics = tuple(self.metrics)
        bad = [m for m in self.metrics if m not in results.METRICS]
        if bad or not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(
                f"metrics must be distinct names from {results.METRICS}, got {','.join(self.metrics) or '(none)'}"
            )
        if not isinstance(self.crop_border, int) or self.crop_border < 0:
            raise ValueError(f"crop_border must be an integer >= 0, got {self.crop_border!r}")
        if self.fsds_normalize_by not in ("target", "prediction"):
            raise ValueError(
                f"fsds_normalize_by must be 'target' or 'prediction', got {self.fsds_normalize_by!r}"
            )

    @property
    def metric_columns(self) -> list[str]:
        return results.metric_columns(self.metrics, self.y_channel)

    @property
    def columns(self) -> list[str]:
        return results.columns(self.metric_columns)


@dataclass
class RunOptions:
    """How the work is done (does not change any value)."""

    device: str = "cpu"
    backend: str = "auto"
    workers: int | None = None  # None: min(4, CPUs), or 0 for fewer than AUTO_WORKERS_MIN_PAIRS pairs
    batch_values: int = 1 << 22
    progress: bool = True
    overwrite: bool = False


# ----------------------------------------------------------------------------------------------
# Metrics of one batch of pairs


def rgb_to_y(x: torch.Tensor, peak: float) -> torch.Tensor:
    """[B, 3, H, W] on 0..peak -> [B, 1, H, W]: Y = (16 peak + 65.481 R + 128.553 G + 24.966 B)/255
    (ITU-R BT.601 as MATLAB's rgb2ycbcr, studio range), in x's float dtype."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 * peak + Y_BT601[0] * r + Y_BT601[1] * g + Y_BT601[2] * b) / 255.0


def _luma_or_all(x: torch.Tensor, peak: float, y_channel: bool) -> torch.Tensor:
    return rgb_to_y(x, peak) if y_channel and x.shape[1] == 3 else x


def batch_metrics(
    sr: torch.Tensor,
    hr: torch.Tensor,
    settings: EvalSettings,
    *,
    peak_sr: int,
    peak_hr: int,
    backend: str = "auto",
) -> tuple[dict[str, list[float | None]], list[list[str]]]:
    """sr, hr: [B, C, H, W] integer images (already cropped), on one device.

    Returns per metric column the B values (None where it failed) and per pair the reasons of
    its failures."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    import lpfk

    b = sr.shape[0]
    values: dict[str, list[float | None]] = {}
    errors: list[list[str]] = [[] for _ in range(b)]
    peak = max(peak_sr, peak_hr)
    for metric, col in zip(settings.metrics, settings.metric_columns, strict=True):
        vals: list[float | None] = [None] * b
        if metric == "fsds":
            const_sr = _constant(sr)
            const_hr = _constant(hr)
            ok = [i for i in range(b) if not (const_sr[i] or const_hr[i])]
            for i in range(b):
                if const_sr[i] or const_hr[i]:
                    which = (
                        "SR and HR images are"
                        if const_sr[i] and const_hr[i]
                        else ("SR image is" if const_sr[i] else "HR image is")
                    )
                    errors[i].append(f"fsds: the {which} constant (FSDS z-scores each image)")
            if ok:
                idx = torch.tensor(ok, device=sr.device)
                try:
                    got = lpfk.fsds(
                        sr.index_select(0, idx), hr.index_select(0, idx),
                        normalize_by=settings.fsds_normalize_by, backend=backend,
                    ).tolist()  # fmt: skip
                    for i, v in zip(ok, got, strict=True):
                        vals[i] = v
                except ValueError:  # one bad pair: find it, keep the others
                    for i in ok:
                        try:
                            vals[i] = lpfk.fsds(
                                sr[i], hr[i], normalize_by=settings.fsds_normalize_by, backend=backend
                            ).item()
                        except ValueError as exc:
                            errors[i].append(f"fsds: {exc}")
        elif metric == "psnr":
            s = sr.double() * (peak // peak_sr)
            t = hr.double() * (peak // peak_hr)
            s, t = _luma_or_all(s, peak, settings.y_channel), _luma_or_all(t, peak, settings.y_channel)
            got = peak_signal_noise_ratio(s, t, data_range=float(peak), reduction="none", dim=(1, 2, 3))
            vals = got.tolist()
        elif metric == "ssim":
            h, w = sr.shape[-2:]
            if h < SSIM_WINDOW or w < SSIM_WINDOW:
                for i in range(b):
                    errors[i].append(
                        f"ssim: needs at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {h} x {w}"
                    )
            else:
                # channels_last: oneDNN's depthwise conv runs about 2x faster, same bits (tested)
                cl = torch.channels_last
                s = (
                    _luma_or_all(sr.double() / peak_sr, 1.0, settings.y_channel)
                    .float()
                    .contiguous(memory_format=cl)
                )
                t = (
                    _luma_or_all(hr.double() / peak_hr, 1.0, settings.y_channel)
                    .float()
                    .contiguous(memory_format=cl)
                )
                _, full = structural_similarity_index_measure(
                    s, t, data_range=1.0, reduction="none", return_full_image=True
                )
                valid = full[..., _SSIM_BORDER:-_SSIM_BORDER, _SSIM_BORDER:-_SSIM_BORDER].cpu().numpy()
                vals = [float(np.mean(valid[i], dtype=np.float64)) for i in range(b)]
        values[col] = vals
    return values, errors


def _constant(x: torch.Tensor) -> list[bool]:
    flat = x.reshape(x.shape[0], -1)
    lo, hi = flat.aminmax(dim=1)
    return (lo == hi).tolist()


# ----------------------------------------------------------------------------------------------
# Decoding (DataLoader workers)


class _Decoded:
    """One item decoded: the HR image (or why not) and each SR image (or why not)."""

    __slots__ = ("decode_s", "hr", "hr_error", "index", "srs")

    def __init__(self, index, hr, hr_error, srs, decode_s):
        self.index, self.hr, self.hr_error, self.srs, self.decode_s = index, hr, hr_error, srs, decode_s


class _ItemSource(torch.utils.data.Dataset):
    def __init__(self, items: Sequence[Item]):
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> _Decoded:
        from lpfk.evaluation.images import read_image

        t0 = time.perf_counter()
        item = self.items[i]
        try:
            hr, hr_error = read_image(item.hr), None
        except ValueError as exc:
            hr, hr_error = None, str(exc)
        srs = []
        for method, path in item.srs:
            if hr is None:
                srs.append((method, path.name, None, None))
                continue
            try:
                srs.append((method, path.name, read_image(path), None))
            except ValueError as exc:
                srs.append((method, path.name, None, str(exc)))
        return _Decoded(i, hr, hr_error, srs, time.perf_counter() - t0)


def _keep(x):
    return x


# ----------------------------------------------------------------------------------------------
# Running one process's share


@dataclass
class ShardStats:
    pairs: int = 0
    failed_rows: int = 0
    decode_s: float = 0.0  # summed over the items (in the workers, concurrently)
    metrics_s: float = 0.0
    wall_s: float = 0.0
    rows: list[Row] = field(default_factory=list)


def _base_row(method: str, item: Item, sr_file: str, hr: torch.Tensor | None, cols: Sequence[str]) -> Row:
    row = dict.fromkeys(cols, "")
    row.update(method=method, image=item.hr.name, sr_file=sr_file)
    if hr is not None:
        c, h, w = hr.shape
        row.update(height=str(h), width=str(w), channels=str(c))
    return row


def run_shard(
    items: Sequence[Item],
    settings: EvalSettings,
    options: RunOptions,
    write: Callable[[list[Row]], None],
    *,
    progress_label: str = "lpfk eval",
    show_progress: bool = True,
) -> ShardStats:
    """Evaluate every pair of ``items`` in order, calling ``write(rows)`` after each batch."""
    import torchmetrics.functional.image  # noqa: F401  (imported once, outside the timing)

    stats = ShardStats()
    t_start = time.perf_counter()
    cols = settings.columns
    c = settings.crop_border
    device = torch.device(options.device)
    total = sum(len(it.srs) for it in items)
    bar = Progress(total, progress_label, options.progress and show_progress, unit="pairs")
    workers = options.workers
    if workers is None:  # starting worker processes costs about a second: not worth it for a few pairs
        workers = min(4, os.cpu_count() or 1) if total >= AUTO_WORKERS_MIN_PAIRS else 0
    loader = torch.utils.data.DataLoader(
        _ItemSource(items),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        collate_fn=_keep,
        prefetch_factor=2 if workers else None,
    )
    pending: list[tuple[Row, torch.Tensor | None, torch.Tensor | None]] = []  # in order
    group: tuple | None = None  # (shape, peak_sr, peak_hr) of the pairs in pending
    group_values = 0

    def flush():
        nonlocal group, group_values
        pairs = [(k, sr, hr) for k, (_, sr, hr) in enumerate(pending) if sr is not None]
        if pairs:
            t0 = time.perf_counter()
            sr_b = torch.stack([p[1] for p in pairs]).to(device)
            hr_b = torch.stack([p[2] for p in pairs]).to(device)
            _, peak_sr, peak_hr = group
            values, errors = batch_metrics(
                sr_b, hr_b, settings, peak_sr=peak_sr, peak_hr=peak_hr, backend=options.backend
            )
            for j, (k, _, _) in enumerate(pairs):
                row = pending[k][0]
                for col, vals in values.items():
                    row[col] = results.format_value(vals[j])
                row[results.ERROR_COLUMN] = "; ".join(errors[j])
            stats.metrics_s += time.perf_counter() - t0
        rows = [r for r, _, _ in pending]
        write(rows)
        stats.rows.extend(rows)
        stats.pairs += len(rows)
        stats.failed_rows += sum(1 for r in rows if r[results.ERROR_COLUMN])
        pending.clear()
        group, group_values = None, 0
        bar.update(stats.pairs)
        delay = os.environ.get("_LPFK_EVAL_TEST_DELAY_S")  # tests: a run slow enough to kill
        if delay:
            time.sleep(float(delay))

    from lpfk.evaluation.images import image_peak

    for dec in loader:
        stats.decode_s += dec.decode_s
        item = items[dec.index]
        for method, sr_file, sr, err in dec.srs:
            row = _base_row(method, item, sr_file, dec.hr, cols)
            reason = None
            if dec.hr is None:
                reason = f"HR unreadable: {dec.hr_error}"
            elif sr is None:
                reason = err
            elif sr.shape != dec.hr.shape:
                what = "channel" if sr.shape[0] != dec.hr.shape[0] else "size"
                reason = f"{what} mismatch: SR {'x'.join(map(str, sr.shape))}, HR {'x'.join(map(str, dec.hr.shape))} (C x H x W)"
            elif min(sr.shape[1:]) <= 2 * c:
                reason = f"crop border {c} leaves no pixels of a {sr.shape[1]} x {sr.shape[2]} image"
            if reason is not None:
                row[results.ERROR_COLUMN] = reason.replace("\n", " ")
                pending.append((row, None, None))
                continue
            h, w = sr.shape[1:]
            sr_c, hr_c = sr[:, c : h - c, c : w - c], dec.hr[:, c : h - c, c : w - c]
            key = (tuple(sr_c.shape), image_peak(sr), image_peak(dec.hr))
            n = hr_c.numel()
            if group is not None and (key != group or group_values + n > options.batch_values):
                flush()
            group = key
            group_values += n
            pending.append((row, sr_c, hr_c))
    flush()
    bar.update(stats.pairs, final=True)
    stats.wall_s = time.perf_counter() - t_start
    return stats


# ----------------------------------------------------------------------------------------------
# Processes: single, or torch.distributed ranks (torchrun)


class Comm:
    """The few collectives the evaluation needs; trivial in a single process."""

    def __init__(self):
        import torch.distributed as dist

        self.dist = dist if dist.is_available() and dist.is_initialized() else None
        self.rank = self.dist.get_rank() if self.dist else 0
        self.world = self.dist.get_world_size() if self.dist else 1

    def gather(self, obj) -> list | None:
        if self.dist is None:
            return [obj]
        out = [None] * self.world if self.rank == 0 else None
        self.dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj):
        if self.dist is None:
            return obj
        box = [obj]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj) -> list:
        if self.dist is None:
            return [obj]
        out = [None] * self.world
        self.dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()


class RankQuietError(ValueError):
    """An error already reported by rank 0 (other ranks exit with status 2 and print nothing)."""


class OutputPaths:
    """``results.csv`` -> the rows; ``results.run.json`` (settings: a rerun resumes only with the
    same); ``results.summary.json``; ``results.md``; ``results.rank<r>.<run>.part.csv`` (rows of
    rank r > 0 during a distributed run, merged into the rows file at the end)."""

    def __init__(self, out: str | Path):
        self.rows = Path(out)
        self.fmt = results.row_format(self.rows)
        stem = self.rows.name[: -len(self.rows.suffix)]
        self.dir = self.rows.parent
        self.run = self.dir / f"{stem}.run.json"
        self.summary = self.dir / f"{stem}.summary.json"
        self.markdown = self.dir / f"{stem}.md"
        self._part_glob = f"{stem}.rank*.part{self.rows.suffix}"
        self._stem = stem

    def part(self, rank: int, run_id: str) -> Path:
        return self.dir / f"{self._stem}.rank{rank}.{run_id}.part{self.rows.suffix}"

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob(self._part_glob)) if self.dir.is_dir() else []

    def check_writable(self, own: Sequence[Path]) -> str | None:
        """Why the outputs cannot be written (None: they can). Creates the folder if needed."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create the output folder {self.dir}: {exc.strerror or exc}"
        for p in own:
            if p.is_dir():
                return f"the output {p} is a folder; give a file name ending in {self.rows.suffix}"
            existed = p.exists()
            try:
                with open(p, "a", encoding="utf-8"):
                    pass
                if not existed:
                    p.unlink()
            except OSError as exc:
                return f"cannot write the output {p}: {exc.strerror or exc}"
        probe = self.dir / f".lpfk_write_test_{os.getpid()}"
        try:
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            return f"cannot write files in the output folder {self.dir}: {exc.strerror or exc}"
        return None


def _settings_record(pairing: Pairing, settings: EvalSettings, suffixes: dict) -> dict:
    return {
        "hr": str(pairing.hr_dir.resolve()),
        "methods": [[m.name, str(m.folder.resolve())] for m in pairing.methods],
        **asdict(settings),
        "metrics": list(settings.metrics),
        "columns": settings.columns,
        **suffixes,
    }


def _order(pairing: Pairing) -> dict[tuple[str, str], int]:
    pos = {}
    for item in pairing.items:
        for method, _ in item.srs:
            pos[(method, item.hr.name)] = len(pos)
    return pos


def _canonical(rows: Sequence[Row], order: dict[tuple[str, str], int]) -> list[Row]:
    """Rows deduplicated by (method, image) (first kept) in the pairing's order; rows of pairs
    not in it (files since removed) after, by method and image."""
    seen: dict[tuple[str, str], Row] = {}
    for r in rows:
        seen.setdefault(results.row_key(r), r)
    big = len(order)
    return sorted(seen.values(), key=lambda r: (order.get(results.row_key(r), big), results.row_key(r)))


def evaluate(
    pairing: Pairing,
    out: str | Path,
    settings: EvalSettings,
    options: RunOptions | None = None,
    *,
    suffixes: dict | None = None,
) -> dict | None:
    """Evaluate every pair, appending rows to ``out`` (.csv or .jsonl) and resuming from it.

    In a torch.distributed job (initialised by the caller, e.g. under torchrun) the remaining
    pairs are sharded by rank (whole HR images, round robin); every rank appends its own rows,
    rank 0 merges them into ``out`` and writes the summary. Returns the summary on rank 0, None on
    the others. Raises ValueError (RankQuietError on ranks > 0) before any work when the outputs
    cannot be written or belong to a run with other settings."""
    import json
    import uuid

    import lpfk

    options = options or RunOptions()
    comm = Comm()
    paths = OutputPaths(out)
    cols = settings.columns
    record = _settings_record(pairing, settings, suffixes or {})

    def agree(error: str | None) -> None:
        """Raise on every rank when any rank has an error."""
        errs = [e for e in comm.all_gather(error) if e]  # in rank order: the lowest rank's first
        if errs:
            raise (ValueError if comm.rank == 0 else RankQuietError)(errs[0])

    # 1. Can every output be written? (before any work)
    own = [paths.rows, paths.run, paths.summary, paths.markdown] if comm.rank == 0 else []
    agree(paths.check_writable(own))

    # 2. Start again, or gather what earlier runs finished (from every rank's view of the disk).
    if options.overwrite:
        for p in paths.parts():
            p.unlink(missing_ok=True)
        if comm.rank == 0:
            for p in (paths.rows, paths.run, paths.summary, paths.markdown):
                p.unlink(missing_ok=True)
        comm.barrier()
    seen_files = [p for p in (paths.rows, *paths.parts()) if p.exists() and p.stat().st_size > 0]
    local: dict = {"rows": [], "error": None, "files": [str(p) for p in seen_files]}
    try:
        earlier = _read_run(paths.run) if seen_files and comm.rank == 0 else None
        if earlier is not None:
            if earlier.get("settings") != record:
                diff = sorted(k for k in set(earlier.get("settings", {})) | set(record)
                              if earlier.get("settings", {}).get(k) != record.get(k))  # fmt: skip
                raise ValueError(
                    f"{paths.rows} holds rows of a run with other settings ({', '.join(diff)} differ); "
                    "pass --overwrite to start again, or another --out"
                )
        elif seen_files and comm.rank == 0 and paths.rows in seen_files:
            raise ValueError(
                f"{paths.rows} exists but was not written by lpfk eval (no {paths.run.name} beside it); "
                "pass --overwrite to replace it, or another --out"
            )
        for p in seen_files:
            local["rows"].extend(results.read_rows(p, cols, paths.fmt))
    except (ValueError, OSError) as exc:
        local["error"] = str(exc)
    gathered = comm.gather(local)
    order = _order(pairing)
    decision: dict = {"error": None}
    if comm.rank == 0:
        errors = [g["error"] for g in gathered if g["error"]]
        if errors:  # rank 0's own first (the other ranks' follow from the same cause)
            decision["error"] = errors[0]
        else:
            done = _canonical([r for g in gathered for r in g["rows"]], order)
            # the settings first: a rows file never exists without them (see the check above)
            results.write_text_atomic(
                paths.run, json.dumps({"lpfk": lpfk.__version__, "settings": record}, indent=2)
            )
            results.write_rows_atomic(paths.rows, done, cols, paths.fmt)
            decision["done"] = [results.row_key(r) for r in done]
            decision["run_id"] = uuid.uuid4().hex[:8]
    decision = comm.broadcast(decision)
    if decision["error"]:
        raise (ValueError if comm.rank == 0 else RankQuietError)(decision["error"])
    for f in local["files"]:  # their rows are in paths.rows now
        if Path(f) != paths.rows:
            Path(f).unlink(missing_ok=True)
    comm.barrier()

    # 3. This rank's share of the remaining pairs.
    done = set(map(tuple, decision["done"]))
    remaining = []
    for item in pairing.items:
        todo = tuple((m, p) for m, p in item.srs if (m, item.hr.name) not in done)
        if todo:
            remaining.append(Item(item.key, item.hr, todo))
    shard = remaining[comm.rank :: comm.world]
    target = paths.rows if comm.rank == 0 else paths.part(comm.rank, decision["run_id"])
    writer = results.RowWriter(target, cols, paths.fmt)
    label = "lpfk eval" if comm.world == 1 else f"lpfk eval (rank 0 of {comm.world})"
    try:
        stats = run_shard(
            shard, settings, options, writer.write, progress_label=label, show_progress=comm.rank == 0
        )
    finally:
        writer.close()

    # 4. Rank 0 merges every rank's rows and summarises.
    timing = {k: getattr(stats, k) for k in ("pairs", "failed_rows", "decode_s", "metrics_s", "wall_s")}
    gathered = comm.gather({"rows": stats.rows if comm.rank else [], "timing": timing})
    summary = None
    if comm.rank == 0:
        rows = results.read_rows(paths.rows, cols, paths.fmt) + [r for g in gathered[1:] for r in g["rows"]]
        rows = _canonical(rows, order)
        results.write_rows_atomic(paths.rows, rows, cols, paths.fmt)
        summary = _summary(rows, settings, pairing, record, [g["timing"] for g in gathered], len(done))
        results.write_text_atomic(paths.summary, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        results.write_text_atomic(paths.markdown, _markdown(summary, settings))
    comm.barrier()
    if comm.rank:
        target.unlink(missing_ok=True)
    return summary


def _read_run(path: Path) -> dict | None:
    import json

    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) and "settings" in obj else None


def _summary(rows, settings, pairing, record, timings, resumed) -> dict:
    import lpfk

    pairs = sum(t["pairs"] for t in timings)
    wall = max(t["wall_s"] for t in timings)
    return {
        "lpfk": lpfk.__version__,
        "settings": record,
        "conventions": conventions(settings),
        "methods": results.summarize(rows, settings.metric_columns),
        "failures": [
            {"method": r["method"], "image": r["image"], "sr_file": r["sr_file"], "error": r["error"]}
            for r in rows
            if r[results.ERROR_COLUMN]
        ],
        "unpaired": pairing.unpaired,
        "run": {
            "processes": len(timings),
            "pairs_this_run": pairs,
            "pairs_from_earlier_runs": resumed,
            "wall_s": wall,
            "images_per_s": pairs / wall if wall > 0 else None,
            "decode_s": sum(t["decode_s"] for t in timings),
            "metrics_s": sum(t["metrics_s"] for t in timings),
            "per_process": timings,
        },
    }


def conventions(settings: EvalSettings) -> list[str]:
    """The definitions behind the numbers, for the notes under the table."""
    notes = []
    if "fsds" in settings.metrics:
        notes.append(
            f"FSDS (Deng et al., ICML 2024) on all channels, normalised by the {settings.fsds_normalize_by} "
            f"({'as published' if settings.fsds_normalize_by == 'target' else 'as the authors table script'}); higher = closer spectra."
        )
    space = (
        "the Y channel of ITU-R BT.601 (MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B, R, G, B in [0, 1])"
        if settings.y_channel
        else "all channels"
    )
    if "psnr" in settings.metrics:
        notes.append(f"PSNR (torchmetrics) on {space}, peak 255 (8-bit) or 65535 (16-bit).")
    if "ssim" in settings.metrics:
        notes.append(
            f"SSIM (torchmetrics map: Gaussian 11 x 11, sigma 1.5) on {space}, averaged over the valid region as MATLAB's ssim_index."
        )
    notes.append(
        f"{settings.crop_border} pixel(s) cropped from every border before every metric."
        if settings.crop_border
        else "No border cropped."
    )
    return notes


def _markdown(summary: dict, settings: EvalSettings) -> str:
    table = results.markdown_table(summary["methods"], settings.metric_columns, conventions(settings))
    unpaired = summary.get("unpaired") or {}
    if unpaired:
        table += "".join(f"- unpaired, {k}: {len(v)}\n" for k, v in unpaired.items())
    return table
