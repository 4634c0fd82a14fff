"""lpfk.FSDS, the torchmetrics Metric: update/compute/reset against lpfk.fsds, and 2 processes
(gloo) giving the single-process result."""

import pytest
import torch
import torch.multiprocessing as mp

import lpfk
from tests.conftest import smooth_image


def _data(n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = smooth_image((n, 3, 20, 17), generator=g, dtype=torch.float32)
    p = t + 0.05 * torch.randn(t.shape, generator=g)
    return p, t


def test_update_compute_reset():
    from lpfk.evaluation.metric import FSDS

    assert lpfk.FSDS is FSDS and "FSDS" in dir(lpfk)
    p, t = _data()
    want = lpfk.fsds(p, t)
    m = lpfk.FSDS()
    m.update(p[:3], t[:3])
    m.update(p[3], t[3])  # one [C, H, W] image
    m.update(p[4:], t[4:])
    torch.testing.assert_close(m.compute(), want.double().mean().float(), rtol=0, atol=1e-6)
    assert int(m.total) == 7
    m.reset()
    assert int(m.total) == 0 and float(m.fsds_sum) == 0.0
    m.update(p[:2], t[:2])
    torch.testing.assert_close(m.compute(), want[:2].double().mean().float(), rtol=0, atol=1e-6)

    s = lpfk.FSDS(reduction="sum", normalize_by="prediction", backend="torch")
    s.update(p, t)
    torch.testing.assert_close(s.compute(), lpfk.fsds(p, t, normalize_by="prediction").double().sum().float())
    n = lpfk.FSDS(reduction="none")
    n.update(p[:3], t[:3])
    n.update(p[3:], t[3:])
    torch.testing.assert_close(n.compute(), want)
    batch = lpfk.FSDS()(p[:2], t[:2])  # forward: the batch's value, and accumulated
    torch.testing.assert_close(batch, want[:2].double().mean().float(), rtol=0, atol=1e-6)


def test_metric_errors_and_gradients():
    with pytest.raises(ValueError, match="FSDS: reduction must be one of"):
        lpfk.FSDS(reduction="max")
    with pytest.raises(ValueError, match="FSDS: normalize_by must be one of"):
        lpfk.FSDS(normalize_by="both")
    p, t = _data(2)
    m = lpfk.FSDS()
    with pytest.raises(ValueError, match="constant image"):
        m.update(torch.ones_like(p), t)
    p.requires_grad_(True)
    m(p, t).backward()  # forward: the batch value, differentiable (it trains as a loss)
    want = torch.autograd.grad(lpfk.fsds(p, t, reduction="mean"), p)[0]
    torch.testing.assert_close(p.grad, want)


def _worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    p, t = _data()
    idx = [0, 2, 4, 6] if rank == 0 else [1, 3, 5]  # uneven shards
    mean, none = lpfk.FSDS(), lpfk.FSDS(reduction="none")
    for i in idx:
        mean.update(p[i : i + 1], t[i : i + 1])
        none.update(p[i : i + 1], t[i : i + 1])
    got = {"mean": mean.compute(), "none": none.compute(), "local_total": int(mean.total), "n": len(idx)}
    torch.save(got, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_give_the_single_process_result(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "res")), nprocs=2, join=True)
    p, t = _data()
    want = lpfk.fsds(p, t)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"res.{rank}")
        torch.testing.assert_close(got["mean"], want.double().mean().float(), rtol=0, atol=1e-6)
        torch.testing.assert_close(got["none"], want[[0, 2, 4, 6, 1, 3, 5]])  # rank 0's, then rank 1's
        assert got["local_total"] == got["n"]  # compute() synced, then restored the local state
