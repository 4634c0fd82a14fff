"""TinySR: the small network of the reference fixtures (shared/fixtures/README.md), for tests
and examples. head conv -> residual blocks (x + conv2(relu(conv1(x)))) -> upconv ->
PixelShuffle -> tail conv; every conv 3x3 with bias; no global skip."""

from __future__ import annotations

from torch import nn

from lpfk.models import register


class ResBlock(nn.Module):
    def __init__(self, feats: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(feats, feats, 3, padding=1)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(feats, feats, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(self.relu(self.conv1(x)))


@register("tinysr")
class TinySR(nn.Module):
    """[B, ch, h, w] -> [B, ch, scale*h, scale*w]."""

    def __init__(self, scale: int = 4, ch: int = 3, feats: int = 8, blocks: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(ch, feats, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(feats) for _ in range(blocks)])
        self.upconv = nn.Conv2d(feats, feats * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.tail = nn.Conv2d(feats, ch, 3, padding=1)

    def forward(self, x):
        return self.tail(self.shuffle(self.upconv(self.body(self.head(x)))))
