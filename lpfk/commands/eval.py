"""``lpfk eval``: FSDS, PSNR and SSIM of folders of SR results against their ground truth.

    lpfk eval --hr HR/ --sr EDSR_x4/ RCAN_x4/ --sr-suffix _x4 --y-channel --crop-border 4 --out results.csv
    lpfk eval --example                       # the bundled example dataset
    torchrun --nproc_per_node=4 -m lpfk eval --hr HR/ --sr ...   # sharded over 4 processes

Exit status: 0 every pair scored; EXIT_PAIRS_FAILED (1) the run finished and every row is
written, but some pairs failed (their reasons are in the error column and the summary); 2 the
run was refused (bad options, unpaired names, outputs that cannot be written or belong to
another run). See docs/eval.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_PAIRS_FAILED = 1
DEFAULT_OUT = Path("lpfk_out/eval/results.csv")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="FSDS/PSNR/SSIM of folders of SR results against HR (resumable, torchrun-ready)",
        description="Score every SR result against its HR image by file name; one row per image, "
        "a summary per method and a Markdown table. A rerun with the same --out resumes.",
        epilog=f"exit status: 0 all pairs scored; {EXIT_PAIRS_FAILED} finished, all rows written, but some "
        "pairs failed (see the error column); 2 refused before any work (bad options or outputs)",
    )
    src = p.add_argument_group("data")
    src.add_argument("--hr", type=Path, help="folder of ground-truth (HR) images")
    src.add_argument(
        "--sr", nargs="+", metavar="[NAME=]DIR",
        help="one or more folders of SR results (one table row each); NAME= sets the row's name "
        "(default: the folder name)",
    )  # fmt: skip
    src.add_argument(
        "--example", action="store_true",
        help="evaluate the bundled example (its HR/ and its four method folders)",
    )  # fmt: skip
    src.add_argument(
        "--sr-suffix", action="append", default=[], metavar="SUFFIX",
        help="removed from the end of SR file names before pairing, e.g. _x4 or _SR (repeatable)",
    )  # fmt: skip
    src.add_argument(
        "--hr-suffix", action="append", default=[], metavar="SUFFIX",
        help="removed from the end of HR file names before pairing, e.g. _HR (repeatable)",
    )  # fmt: skip
    src.add_argument(
        "--allow-unpaired", action="store_true",
        help="evaluate the pairs that match and report the names that do not (default: refuse to start)",
    )  # fmt: skip
    m = p.add_argument_group("metrics")
    m.add_argument(
        "--metrics", default="fsds,psnr,ssim", help="comma-separated: fsds, psnr, ssim (default: all)"
    )
    m.add_argument(
        "--crop-border", type=int, default=0, metavar="N",
        help="pixels cropped from every side before every metric (SR papers use N = scale)",
    )  # fmt: skip
    m.add_argument(
        "--y-channel", action="store_true",
        help="PSNR and SSIM on Y of ITU-R BT.601 (MATLAB rgb2ycbcr); FSDS stays on all channels",
    )  # fmt: skip
    m.add_argument(
        "--fsds-normalize-by", choices=("target", "prediction"), default="target",
        help="FSDS denominator: target (as published, default) or prediction (the authors' table script)",
    )  # fmt: skip
    o = p.add_argument_group("output")
    o.add_argument(
        "--out", type=Path, default=DEFAULT_OUT,
        help=f"rows file, .csv or .jsonl (default {DEFAULT_OUT}); the summary (.summary.json) "
        "and the table (.md) go beside it; an existing one is resumed, never replaced without --overwrite",
    )  # fmt: skip
    o.add_argument("--overwrite", action="store_true", help="discard the rows of an earlier run of --out")
    o.add_argument("--quiet", action="store_true", help="no progress bar, no table on stdout")
    r = p.add_argument_group("execution")
    r.add_argument(
        "--device", default="cpu",
        help="cpu, cuda or cuda:N (under torchrun, cuda means each rank's cuda:LOCAL_RANK)",
    )  # fmt: skip
    r.add_argument("--backend", default="auto", help="FSDS backend: auto | torch | cpp | triton | cuda")
    r.add_argument(
        "--workers", type=int, default=None,
        help="threads decoding images ahead of the metrics, per process (0: decode in the main "
        "thread, one file at a time; default min(4, CPUs))",
    )  # fmt: skip
    r.add_argument(
        "--batch-values", type=int, default=1 << 22, metavar="N",
        help="at most N HR values (C*H*W summed) per metric batch; bounds memory (default 4194304)",
    )  # fmt: skip
    r.add_argument(
        "--threads", type=int, default=None,
        help="torch threads per process (torchrun sets OMP_NUM_THREADS=1 unless told otherwise)",
    )  # fmt: skip
    r.add_argument(
        "--dist-backend", default="gloo",
        help="torch.distributed backend under torchrun (default gloo: only rows and progress travel)",
    )  # fmt: skip
    r.add_argument(
        "--dist-timeout-min", type=float, default=24 * 60.0,
        help="how long ranks wait for each other at the start and the end (minutes, default 1440)",
    )  # fmt: skip
    p.set_defaults(func=run)


def _distributed(args) -> bool:
    """Join the torch.distributed job torchrun started (WORLD_SIZE > 1), if any."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    from datetime import timedelta

    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend=args.dist_backend, timeout=timedelta(minutes=args.dist_timeout_min))
    return True


def _pairing(args):
    from lpfk.evaluation.images import example_dir
    from lpfk.evaluation.pairing import Method, pair_folders, parse_method

    if args.example:
        if args.hr or args.sr:
            raise ValueError("--example takes no --hr / --sr")
        root = example_dir()
        hr = root / "HR"
        methods = [Method(d.name, d) for d in sorted(root.iterdir()) if d.is_dir() and d.name != "HR"]
    else:
        if not args.hr or not args.sr:
            raise ValueError("give --hr DIR and --sr DIR [DIR ...] (or --example)")
        hr, methods = args.hr, [parse_method(s) for s in args.sr]
    return pair_folders(
        hr,
        methods,
        sr_suffixes=args.sr_suffix,
        hr_suffixes=args.hr_suffix,
        allow_unpaired=args.allow_unpaired,
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from lpfk.evaluation import runner as ev

    distributed = _distributed(args)
    rank = int(os.environ.get("RANK", "0")) if distributed else 0
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be at least 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        if args.workers is not None and args.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {args.workers}")
        if args.batch_values < 1:
            raise ValueError(f"--batch-values must be >= 1, got {args.batch_values}")
        device = args.device
        if device == "cuda" and distributed:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        settings = ev.EvalSettings(
            metrics=tuple(s.strip() for s in args.metrics.split(",") if s.strip()),
            crop_border=args.crop_border,
            y_channel=args.y_channel,
            fsds_normalize_by=args.fsds_normalize_by,
        )
        options = ev.RunOptions(
            device=device,
            backend=args.backend,
            workers=args.workers,
            batch_values=args.batch_values,
            progress=not args.quiet,
            overwrite=args.overwrite,
        )
        try:  # a malformed or absent device fails here, before any work
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"--device: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {device}: torch.cuda.is_available() is False here")
        pairing = _share_pairing(args, distributed)
        if pairing.unpaired and rank == 0 and not args.quiet:
            for what, names in pairing.unpaired.items():
                print(f"lpfk eval: unpaired, {what}: {len(names)} (left out; listed in the summary)")
        suffixes = {"sr_suffix": list(args.sr_suffix), "hr_suffix": list(args.hr_suffix)}
        summary = ev.evaluate(pairing, args.out, settings, options, suffixes=suffixes)
        if summary is None:  # ranks > 0: rank 0 reports
            return 0
        if not args.quiet:
            _print(summary, settings, ev.OutputPaths(args.out))
        if summary.failed_pairs:
            print(
                f"lpfk eval: {summary.failed_pairs} pair(s) failed (reasons in the error column of "
                f"{args.out}); exit status {EXIT_PAIRS_FAILED}",
                file=sys.stderr,
            )
            return EXIT_PAIRS_FAILED
        return 0
    except ev.RankQuietError:
        return 2  # rank 0 reports it
    finally:
        if distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _share_pairing(args, distributed: bool):
    """Rank 0 lists and pairs the folders; the other ranks take its result (one listing)."""
    if not distributed:
        return _pairing(args)
    import torch.distributed as dist

    from lpfk.evaluation.runner import RankQuietError

    box: list = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = _pairing(args)
        except ValueError as exc:
            box[0] = exc
    dist.broadcast_object_list(box, src=0)
    if isinstance(box[0], Exception):
        if dist.get_rank() == 0:
            raise box[0]
        raise RankQuietError(str(box[0]))
    return box[0]


def _print(summary, settings, paths) -> None:
    """The summary as a text table: per method and metric, mean ± sample std over the finite
    values, with (n=K) where a mean covers fewer images than the method has."""
    from lpfk.evaluation.results import COVERAGE_NOTE, coverage

    cols = settings.metric_columns
    texts = {}
    for method, entry in summary.methods.items():
        for c in cols:
            s = entry.metrics[c]
            d = 4 if c.startswith("ssim") else 2
            texts[method, c] = (
                "n/a"
                if s.mean is None
                else f"{s.mean:.{d}f}"
                + (f" ± {s.std:.{d}f}" if s.std is not None else "")
                + coverage(entry, c)
            )
    width = {
        c: max(
            [15 if not c.startswith("ssim") else 17] + [len(t) + 2 for (_, k), t in texts.items() if k == c]
        )
        for c in cols
    }
    print(
        (f"{'method':<20} {'images':>6} {'failed':>6}  " + "".join(f"{c:<{width[c]}}" for c in cols)).rstrip()
    )
    for method, entry in summary.methods.items():
        cells = "".join(f"{texts[method, c]:<{width[c]}}" for c in cols)
        print(f"{method:<20} {entry.images:>6} {entry.rows_with_errors:>6}  {cells}".rstrip())
    if any(coverage(e, c) for e in summary.methods.values() for c in cols):
        print(COVERAGE_NOTE)
    run = summary.run
    rate = run.images_per_s
    print(
        f"\n{run.pairs_this_run} pairs evaluated in {run.wall_s:.1f} s"
        + (f" ({rate:.1f} img/s, {run.processes} process(es))" if rate else "")
        + (f"; {run.pairs_from_earlier_runs} from an earlier run" if run.pairs_from_earlier_runs else "")
    )
    for f in summary.failures[:10]:
        print(f"failed: {f.method}/{f.sr_file}: {f.error}")
    if len(summary.failures) > 10:
        print(f"... {len(summary.failures) - 10} more failures in {paths.summary}")
    for method, entry in summary.methods.items():
        for c in cols:
            if entry.metrics[c].infinite:
                print(
                    f"note: {method}: {c} is +inf on {entry.metrics[c].infinite} image(s) (identical to HR), "
                    "left out of the mean"
                )
    print(f"wrote {paths.rows}, {paths.summary}, {paths.markdown}")
