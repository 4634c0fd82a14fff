"""Dataset-scale evaluation behind ``lpfk eval``: FSDS, PSNR and SSIM of every SR result against its
ground truth, rows appended as they complete, resumable, sharded across torch.distributed ranks.

Pipeline (per process): threads decode the files ahead of the metrics (``decoded_items``:
Pillow releases the GIL while it inflates and un-filters a PNG, so decoding overlaps the metric
kernels without worker processes to start or tensors to ship between them); the main thread
groups consecutive pairs of one shape into batches of at most ``batch_values`` HR values,
computes the metrics batch-wise and appends the rows. Memory is bounded by the files in flight
(2 x threads + 1 beyond the current item) and one batch, whatever the dataset size.

Metric conventions (the numbers the columns hold):
- fsds: lpfk.fsds(SR, HR) on all channels of the (cropped) integer images, float32 on the cpp
  backend; ``fsds_normalize_by`` as in lpfk.ops.fsds.
- psnr: torchmetrics' peak_signal_noise_ratio formula in float64 on the images' integer scale
  (8-bit 0..255, 16-bit 0..65535; an 8-bit image paired with a 16-bit one is scaled by 257 =
  65535/255), data range = that peak. On RGB and gray integer data the squared errors are summed
  exactly (in int64).
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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from lpfk.evaluation import results
from lpfk.evaluation.pairing import Item, Pairing
from lpfk.evaluation.results import Row
from lpfk.progress import Progress

MetricName = Literal["fsds", "psnr", "ssim"]

Y_BT601 = (65.481, 128.553, 24.966)  # R, G, B weights of MATLAB's rgb2ycbcr for values in [0, 1]
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
    workers: int | None = None  # decoding threads; None: min(4, CPUs); 0: decode in the caller's thread
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


@dataclass
class BatchScores:
    """The metrics of a batch of B pairs: per metric column the B values (None where it failed)
    and per pair the reasons of its failures ("metric: why")."""

    values: dict[str, list[float | None]]
    errors: list[list[str]]


def batch_metrics(
    sr: torch.Tensor,
    hr: torch.Tensor,
    settings: EvalSettings,
    *,
    peak_sr: int,
    peak_hr: int,
    backend: str = "auto",
) -> BatchScores:
    """sr, hr: [B, C, H, W] integer images (already cropped), on one device; peak_sr, peak_hr:
    their largest values (255 or 65535). The columns' conventions: see this module's docstring."""
    scores = BatchScores({}, [[] for _ in range(sr.shape[0])])
    for metric, col in zip(settings.metrics, settings.metric_columns, strict=True):
        if metric == "fsds":
            vals = _fsds_values(sr, hr, settings.fsds_normalize_by, backend, scores.errors)
        elif metric == "psnr":
            vals = _psnr_values(sr, hr, peak_sr, peak_hr, settings.y_channel)
        else:
            vals = _ssim_column(sr, hr, peak_sr, peak_hr, settings.y_channel, backend, scores.errors)
        scores.values[col] = vals
    return scores


def _fsds_values(sr, hr, normalize_by, backend, errors: list[list[str]]) -> list[float | None]:
    """lpfk.fsds of every pair; a constant image (FSDS z-scores each image) or a pair the op
    refuses gets None and its reason in ``errors``. The batch is scored in one call; only when
    the op refuses it are the pairs checked one by one (so the common case makes no pass of its
    own over the images)."""
    from lpfk.ops.fsds import fsds

    try:
        return fsds(sr, hr, normalize_by=normalize_by, backend=backend).tolist()
    except ValueError:  # a constant or bad pair: find it, keep the others
        pass
    vals: list[float | None] = [None] * sr.shape[0]
    const_sr, const_hr = _constant(sr), _constant(hr)
    for i in range(sr.shape[0]):
        if const_sr[i] or const_hr[i]:
            which = "SR and HR images are" if const_sr[i] and const_hr[i] else (
                "SR image is" if const_sr[i] else "HR image is"
            )  # fmt: skip
            errors[i].append(f"fsds: the {which} constant (FSDS z-scores each image)")
            continue
        try:
            vals[i] = fsds(sr[i], hr[i], normalize_by=normalize_by, backend=backend).item()
        except ValueError as exc:
            errors[i].append(f"fsds: {exc}")
    return vals


def _psnr_values(sr, hr, peak_sr: int, peak_hr: int, y_channel: bool) -> list[float | None]:
    """PSNR in dB on the common integer scale (peak = max(peak_sr, peak_hr)), computed as
    torchmetrics' peak_signal_noise_ratio does (reduction "none" over C, H, W):
    10 / ln 10 * (2 ln peak - ln(SSE / n)), in float64 but for its two float32 constants.
    On integer images (not --y-channel) SSE is summed exactly in integers
    (``lpfk.ops.psnr.squared_error_sums``): the float64 sum torchmetrics forms, which is exact below 2^53 (any
    8-bit image; 16-bit ones up to 2 million values; above, the two differ in the 16th digit)."""
    peak = max(peak_sr, peak_hr)
    if y_channel and sr.shape[1] == 3:
        s = rgb_to_y(sr.double() * (peak // peak_sr), peak)
        t = rgb_to_y(hr.double() * (peak // peak_hr), peak)
        diff = s - t
        sse, n = torch.sum(diff * diff, dim=(1, 2, 3)), diff[0].numel()
    else:
        from lpfk.ops.psnr import squared_error_sums

        sse = torch.tensor(squared_error_sums(sr, hr, peak // peak_sr, peak // peak_hr), dtype=torch.float64)
        n = sr[0].numel()
    # torchmetrics' constants are float32 tensors (its data_range and base): the same here, so
    # that the values are torchmetrics' to the last bit (float32 ln 255 is 2e-8 dB off float64's)
    psnr_e = 2 * torch.log(torch.tensor(float(peak))) - torch.log(sse / n)
    return (psnr_e * (10 / torch.log(torch.tensor(10.0)))).tolist()


def _ssim_column(
    sr, hr, peak_sr: int, peak_hr: int, y_channel: bool, backend: str, errors
) -> list[float | None]:
    """SSIM of every pair on [0, 1] images (Y of BT.601 with ``y_channel``); None (and a reason)
    for images under the 11 x 11 window."""
    b, (h, w) = sr.shape[0], sr.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        for e in errors:
            e.append(f"ssim: needs at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {h} x {w}")
        return [None] * b
    if y_channel and sr.shape[1] == 3:
        s, t = rgb_to_y(sr.double() / peak_sr, 1.0).float(), rgb_to_y(hr.double() / peak_hr, 1.0).float()
        return _ssim_values(s, t, backend)
    # float32(x / peak), the float64 quotient rounded for every value (tested); the cpp kernel
    # divides as it reads (no float copy of the images), the other backends with torch.div
    from lpfk.ops.ssim import ssim_unit

    return ssim_unit(sr, hr, peak_sr, peak_hr, backend=backend).tolist()


def _ssim_values(sr: torch.Tensor, hr: torch.Tensor, backend: str = "auto") -> list[float]:
    """sr, hr: [B, C, H, W] float32 in [0, 1], H, W >= 11 -> B SSIM values: the SSIM map
    (Gaussian window 11 x 11, sigma 1.5, K1 0.01, K2 0.03, data range 1) averaged in float64 over
    the valid region (the windows inside the image, 5 pixels from every border left out), as
    MATLAB's ssim_index: ``lpfk.ssim(region="valid")`` (docs/ssim.md).

    The ``cpp`` / GPU backends compute the map in float64: exact SSIM of the float32 inputs. Until
    lpfk 0.1 this was torchmetrics' float32 map, whose mean is off the exact value by up to 3e-5 on
    8-bit photographs (the 5th-6th written decimal). ``backend="torch"`` is torchmetrics' float32
    arithmetic. The one place lpfk eval computes SSIM (tests/test_eval.py checks it against a
    float64 oracle)."""
    from lpfk.ops.ssim import ssim

    return ssim(sr, hr, data_range=1.0, region="valid", dtype=torch.float64, backend=backend).tolist()


def _constant(x: torch.Tensor) -> list[bool]:
    flat = x.reshape(x.shape[0], -1)
    lo, hi = flat.aminmax(dim=1)
    return (lo == hi).tolist()


# ----------------------------------------------------------------------------------------------
# Decoding: threads ahead of the metrics (Pillow releases the GIL while it decodes)


@dataclass
class Decoded:
    """One file decoded: the [C, H, W] image, or why not (``error``)."""

    image: torch.Tensor | None
    error: str | None
    seconds: float


def _decode(path: Path) -> Decoded:
    from lpfk.evaluation.images import read_image

    t0 = time.perf_counter()
    try:
        image, error = read_image(path), None
    except ValueError as exc:
        image, error = None, str(exc)
    return Decoded(image, error, time.perf_counter() - t0)


@dataclass
class DecodedItem:
    """An HR image and each of its SR results decoded (``srs``: method, SR file name, result)."""

    item: Item
    hr: Decoded
    srs: list[tuple[str, str, Decoded]]

    @property
    def seconds(self) -> float:
        return self.hr.seconds + sum(d.seconds for _, _, d in self.srs)


def decoded_items(items: Sequence[Item], threads: int) -> Iterator[DecodedItem]:
    """The items of ``items`` decoded, in order. ``threads`` > 0: that many threads decode files
    ahead of the consumer (at most 2 x threads + 1 files in flight, so memory stays bounded);
    0: each file decoded when its item is asked for."""
    if threads == 0:
        for item in items:
            yield DecodedItem(item, _decode(item.hr), [(m, p.name, _decode(p)) for m, p in item.srs])
        return
    files = [(k, path) for k, item in enumerate(items) for path in (item.hr, *(p for _, p in item.srs))]
    ahead = 2 * threads + 1
    with ThreadPoolExecutor(threads, thread_name_prefix="lpfk-decode") as pool:
        pending: deque[Future] = deque()
        submitted = 0
        try:
            for k, item in enumerate(items):
                need = 1 + len(item.srs)
                while submitted < len(files) and (len(pending) < ahead + need or files[submitted][0] <= k):
                    pending.append(pool.submit(_decode, files[submitted][1]))
                    submitted += 1
                got = [pending.popleft().result() for _ in range(need)]
                yield DecodedItem(
                    item, got[0], [(m, p.name, d) for (m, p), d in zip(item.srs, got[1:], strict=True)]
                )
        finally:
            for f in pending:
                f.cancel()


# ----------------------------------------------------------------------------------------------
# Running one process's share


@dataclass
class ShardStats:
    """What one process did (its rows travel separately)."""

    pairs: int = 0
    failed_rows: int = 0
    decode_s: float = 0.0  # summed over the files (in the decoding threads, concurrently)
    metrics_s: float = 0.0
    wall_s: float = 0.0


@dataclass
class _Pending:
    """A row waiting for its batch; sr, hr: the cropped images (None: the row failed already)."""

    row: Row
    sr: torch.Tensor | None = None
    hr: torch.Tensor | None = None


def _base_row(method: str, item: Item, sr_file: str, hr: torch.Tensor | None, cols: Sequence[str]) -> Row:
    row = dict.fromkeys(cols, "")
    row.update(method=method, image=item.hr.name, sr_file=sr_file)
    if hr is not None:
        c, h, w = hr.shape
        row.update(height=str(h), width=str(w), channels=str(c))
    return row


def _pair_problem(hr: Decoded, sr: Decoded, crop: int) -> str | None:
    """Why a pair cannot be scored at all (None: it can)."""
    if hr.image is None:
        return f"HR unreadable: {hr.error}"
    if sr.image is None:
        return sr.error
    s, h = sr.image.shape, hr.image.shape
    if s != h:
        what = "channel" if s[0] != h[0] else "size"
        return f"{what} mismatch: SR {'x'.join(map(str, s))}, HR {'x'.join(map(str, h))} (C x H x W)"
    if min(s[1:]) <= 2 * crop:
        return f"crop border {crop} leaves no pixels of a {s[1]} x {s[2]} image"
    return None


class _Batcher:
    """Collects consecutive scorable pairs of one shape and pixel type (at most ``batch_values``
    HR values) and scores them together; failed pairs wait in line so that rows keep their order."""

    def __init__(self, settings: EvalSettings, options: RunOptions, write, stats: ShardStats, bar):
        self.settings, self.options, self.write, self.stats, self.bar = settings, options, write, stats, bar
        self.device = torch.device(options.device)
        self.pending: list[_Pending] = []
        self.key: tuple | None = None  # (shape, peak_sr, peak_hr) of the pairs in pending
        self.values = 0

    def add(self, row: Row, sr: torch.Tensor | None = None, hr: torch.Tensor | None = None, key=None):
        if sr is not None:
            n = hr.numel()
            if self.key is not None and (key != self.key or self.values + n > self.options.batch_values):
                self.flush()
            self.key = key
            self.values += n
        self.pending.append(_Pending(row, sr, hr))

    def flush(self) -> None:
        """Score the pending pairs, write every pending row (in order), report progress."""
        scored = [p for p in self.pending if p.sr is not None]
        if scored:
            t0 = time.perf_counter()
            _, peak_sr, peak_hr = self.key
            scores = batch_metrics(
                torch.stack([p.sr for p in scored]).to(self.device),
                torch.stack([p.hr for p in scored]).to(self.device),
                self.settings, peak_sr=peak_sr, peak_hr=peak_hr, backend=self.options.backend,
            )  # fmt: skip
            for j, p in enumerate(scored):
                for col, vals in scores.values.items():
                    p.row[col] = results.format_value(vals[j])
                p.row[results.ERROR_COLUMN] = "; ".join(scores.errors[j])
            self.stats.metrics_s += time.perf_counter() - t0
        rows = [p.row for p in self.pending]
        self.write(rows)
        self.stats.pairs += len(rows)
        self.stats.failed_rows += sum(1 for r in rows if r[results.ERROR_COLUMN])
        self.pending.clear()
        self.key, self.values = None, 0
        self.bar.update(self.stats.pairs)
        delay = os.environ.get("_LPFK_EVAL_TEST_DELAY_S")  # tests: a run slow enough to kill
        if delay:
            time.sleep(float(delay))


def decode_threads(workers: int | None) -> int:
    """``RunOptions.workers`` -> decoding threads: None means min(4, CPUs)."""
    return min(4, os.cpu_count() or 1) if workers is None else workers


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
    from lpfk.evaluation.images import image_peak

    stats = ShardStats()
    t_start = time.perf_counter()
    cols, c = settings.columns, settings.crop_border
    bar = Progress(
        sum(len(it.srs) for it in items), progress_label, options.progress and show_progress, unit="pairs"
    )
    batcher = _Batcher(settings, options, write, stats, bar)
    for dec in decoded_items(items, decode_threads(options.workers)):
        stats.decode_s += dec.seconds
        hr = dec.hr.image
        for method, sr_file, sr_dec in dec.srs:
            row = _base_row(method, dec.item, sr_file, hr, cols)
            problem = _pair_problem(dec.hr, sr_dec, c)
            if problem is not None:
                row[results.ERROR_COLUMN] = problem.replace("\n", " ")
                batcher.add(row)
                continue
            sr = sr_dec.image
            h, w = sr.shape[1:]
            sr_c, hr_c = sr[:, c : h - c, c : w - c], hr[:, c : h - c, c : w - c]
            batcher.add(row, sr_c, hr_c, key=(tuple(sr_c.shape), image_peak(sr), image_peak(hr)))
    batcher.flush()
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


@dataclass
class Failure:
    method: str
    image: str
    sr_file: str
    error: str


@dataclass
class RunReport:
    """How this run went: pairs computed now and taken from earlier runs, timings per process."""

    processes: int
    pairs_this_run: int
    pairs_from_earlier_runs: int
    wall_s: float
    images_per_s: float | None
    decode_s: float
    metrics_s: float
    per_process: list[ShardStats]


@dataclass
class EvalSummary:
    """What ``evaluate`` returns and writes as ``<out>.summary.json`` (``to_json``)."""

    lpfk: str
    settings: dict  # the settings record of results.run.json
    conventions: list[str]
    methods: dict[str, results.MethodSummary]
    failures: list[Failure]
    unpaired: dict[str, list[str]]
    run: RunReport

    @property
    def failed_pairs(self) -> int:
        return len(self.failures)

    def to_json(self) -> dict:
        out = asdict(self)
        out["methods"] = {m: s.to_json() for m, s in self.methods.items()}
        return out


@dataclass
class _DiskView:
    """What one rank found of earlier runs: their rows, the files they came from, or an error."""

    rows: list[Row] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Start:
    """Rank 0's decision, broadcast: the pairs already done and this run's id (or an error)."""

    error: str | None = None
    done: set[tuple[str, str]] = field(default_factory=set)
    run_id: str = ""


def evaluate(
    pairing: Pairing,
    out: str | Path,
    settings: EvalSettings,
    options: RunOptions | None = None,
    *,
    suffixes: dict | None = None,
) -> EvalSummary | None:
    """Evaluate every pair, appending rows to ``out`` (.csv or .jsonl) and resuming from it.

    In a torch.distributed job (initialised by the caller, e.g. under torchrun) the remaining
    pairs are sharded by rank (whole HR images, round robin); every rank appends its own rows,
    rank 0 merges them into ``out`` and writes the summary. Returns the summary on rank 0, None on
    the others. Raises ValueError (RankQuietError on ranks > 0) before any work when the outputs
    cannot be written or belong to a run with other settings."""
    options = options or RunOptions()
    comm = Comm()
    paths = OutputPaths(out)
    record = _settings_record(pairing, settings, suffixes or {})
    # 1. Can every output be written? (before any work)
    own = [paths.rows, paths.run, paths.summary, paths.markdown] if comm.rank == 0 else []
    _agree(comm, paths.check_writable(own))
    # 2. Start again, or gather what earlier runs finished (from every rank's view of the disk).
    start = _start_or_resume(comm, paths, pairing, settings, record, options.overwrite)
    # 3. This rank's share of the remaining pairs.
    shard = _remaining(pairing, start.done)[comm.rank :: comm.world]
    stats, rows = _score_shard(comm, paths, shard, settings, options, start.run_id)
    # 4. Rank 0 merges every rank's rows and summarises.
    gathered = comm.gather((stats, rows if comm.rank else []))
    summary = None
    if comm.rank == 0:
        summary = _merge_and_summarize(paths, pairing, settings, record, gathered, len(start.done))
    comm.barrier()
    if comm.rank:
        paths.part(comm.rank, start.run_id).unlink(missing_ok=True)
    return summary


def _agree(comm: Comm, error: str | None) -> None:
    """Raise on every rank when any rank has an error (the lowest rank's message)."""
    errs = [e for e in comm.all_gather(error) if e]
    if errs:
        raise (ValueError if comm.rank == 0 else RankQuietError)(errs[0])


def _start_or_resume(comm, paths: OutputPaths, pairing, settings, record, overwrite: bool) -> _Start:
    """Delete everything with ``overwrite``; else read the rows of earlier runs (every rank
    reads what it sees), and rank 0 rewrites them, merged, into the rows file with the settings
    beside it. Returns the pairs done (the same on every rank)."""
    import json
    import uuid

    import lpfk

    if overwrite:
        for p in paths.parts():
            p.unlink(missing_ok=True)
        if comm.rank == 0:
            for p in (paths.rows, paths.run, paths.summary, paths.markdown):
                p.unlink(missing_ok=True)
        comm.barrier()
    view = _read_earlier(paths, record, settings.columns, check_settings=comm.rank == 0)
    views = comm.gather(view)
    start = _Start()
    if comm.rank == 0:
        start.error = next((v.error for v in views if v.error), None)  # rank 0's own first
        if start.error is None:
            done = _canonical([r for v in views for r in v.rows], _order(pairing))
            # the settings first: a rows file never exists without them (see _read_earlier)
            results.write_text_atomic(
                paths.run, json.dumps({"lpfk": lpfk.__version__, "settings": record}, indent=2)
            )
            results.write_rows_atomic(paths.rows, done, settings.columns, paths.fmt)
            start.done = {results.row_key(r) for r in done}
            start.run_id = uuid.uuid4().hex[:8]
    start = comm.broadcast(start)
    if start.error:
        raise (ValueError if comm.rank == 0 else RankQuietError)(start.error)
    for f in view.files:  # their rows are in paths.rows now
        if f != paths.rows:
            f.unlink(missing_ok=True)
    comm.barrier()
    return start


def _read_earlier(paths: OutputPaths, record: dict, cols, *, check_settings: bool) -> _DiskView:
    """The rows of earlier runs this process can see (the rows file and part files of killed
    ranks); with ``check_settings`` (rank 0), an error when they belong to other settings or the
    rows file was not written by lpfk eval."""
    files = [p for p in (paths.rows, *paths.parts()) if p.exists() and p.stat().st_size > 0]
    view = _DiskView(files=files)
    try:
        if check_settings and files:
            earlier = _read_run(paths.run)
            if earlier is not None and earlier.get("settings") != record:
                theirs = earlier.get("settings", {})
                diff = sorted(k for k in set(theirs) | set(record) if theirs.get(k) != record.get(k))
                raise ValueError(
                    f"{paths.rows} holds rows of a run with other settings ({', '.join(diff)} differ); "
                    "pass --overwrite to start again, or another --out"
                )
            if earlier is None and paths.rows in files:
                raise ValueError(
                    f"{paths.rows} exists but was not written by lpfk eval (no {paths.run.name} beside it); "
                    "pass --overwrite to replace it, or another --out"
                )
        for p in files:
            view.rows.extend(results.read_rows(p, cols, paths.fmt))
    except (ValueError, OSError) as exc:
        view.error = str(exc)
    return view


def _remaining(pairing: Pairing, done: set[tuple[str, str]]) -> list[Item]:
    """The items with their pairs not yet done, in the pairing's order."""
    remaining = []
    for item in pairing.items:
        todo = tuple((m, p) for m, p in item.srs if (m, item.hr.name) not in done)
        if todo:
            remaining.append(Item(item.key, item.hr, todo))
    return remaining


def _score_shard(comm, paths, shard, settings, options, run_id) -> tuple[ShardStats, list[Row]]:
    """Run this rank's pairs, appending to the rows file (rank 0) or its part file; returns the
    statistics and, on ranks > 0, the rows (they travel to rank 0)."""
    target = paths.rows if comm.rank == 0 else paths.part(comm.rank, run_id)
    writer = results.RowWriter(target, settings.columns, paths.fmt)
    kept: list[Row] = []

    def write(rows: list[Row]) -> None:
        writer.write(rows)
        if comm.rank:
            kept.extend(rows)

    label = "lpfk eval" if comm.world == 1 else f"lpfk eval (rank 0 of {comm.world})"
    try:
        stats = run_shard(shard, settings, options, write, progress_label=label, show_progress=comm.rank == 0)
    finally:
        writer.close()
    return stats, kept


def _merge_and_summarize(paths, pairing, settings, record, gathered, resumed: int) -> EvalSummary:
    """Rank 0: every rank's rows into the rows file in canonical order, then the summary JSON
    and the Markdown table beside it."""
    import json

    cols = settings.columns
    rows = results.read_rows(paths.rows, cols, paths.fmt) + [r for _, rs in gathered[1:] for r in rs]
    rows = _canonical(rows, _order(pairing))
    results.write_rows_atomic(paths.rows, rows, cols, paths.fmt)
    summary = _summary(rows, settings, pairing, record, [s for s, _ in gathered], resumed)
    text = json.dumps(summary.to_json(), indent=2, ensure_ascii=False) + "\n"
    results.write_text_atomic(paths.summary, text)
    results.write_text_atomic(paths.markdown, _markdown(summary, settings))
    return summary


def _read_run(path: Path) -> dict | None:
    import json

    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) and "settings" in obj else None


def _summary(rows, settings, pairing, record, stats: list[ShardStats], resumed: int) -> EvalSummary:
    import lpfk

    pairs = sum(s.pairs for s in stats)
    wall = max(s.wall_s for s in stats)
    return EvalSummary(
        lpfk=lpfk.__version__,
        settings=record,
        conventions=conventions(settings),
        methods=results.summarize(rows, settings.metric_columns),
        failures=[
            Failure(r["method"], r["image"], r["sr_file"], r[results.ERROR_COLUMN])
            for r in rows
            if r[results.ERROR_COLUMN]
        ],
        unpaired=pairing.unpaired,
        run=RunReport(
            processes=len(stats),
            pairs_this_run=pairs,
            pairs_from_earlier_runs=resumed,
            wall_s=wall,
            images_per_s=pairs / wall if wall > 0 else None,
            decode_s=sum(s.decode_s for s in stats),
            metrics_s=sum(s.metrics_s for s in stats),
            per_process=stats,
        ),
    )


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


def _markdown(summary: EvalSummary, settings: EvalSettings) -> str:
    table = results.markdown_table(summary.methods, settings.metric_columns, conventions(settings))
    if summary.unpaired:
        table += "".join(f"- unpaired, {k}: {len(v)}\n" for k, v in summary.unpaired.items())
    return table
