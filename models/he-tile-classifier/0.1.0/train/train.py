#!/usr/bin/env python3
"""Trains the H&E tile classifier (5 classes) on tiles written by make_data.ts and exports model.onnx.

    nice -n 10 python3 models/he-tile-classifier/0.1.0/train/train.py [--data /tmp/he-data] [--epochs 4]

CPU only, one thread, fixed seeds (deterministic for a given torch build). Writes model.onnx next to this folder
and metrics.json (held-out tile accuracy on the val seeds, slide-level class-fraction errors on eval seeds
9000-9009) into train/.

Class order (= model output channel, = SYNTH_CLASSES mask values): background, tumour, stroma, lymphocytes, pen.
Input `image` float32 [N, 3, 32, 32], RGB in [0, 1] at 1.0 um/px; output `probs` float32 [N, 5] (softmax). The tile is
centred on a 16 x 16 px core and the soft labels are the class fractions of that core.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.dirname(HERE)
CLASSES = ['background', 'tumour', 'stroma', 'lymphocytes', 'pen']
T = 32

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)


def load(data, split):
    d = os.path.join(data, split)
    meta = json.load(open(os.path.join(d, 'meta.json')))
    n = meta['n']
    tiles = np.fromfile(os.path.join(d, 'tiles.u8'), np.uint8).reshape(n, T, T, 3)
    labels = np.fromfile(os.path.join(d, 'labels.f32'), np.float32).reshape(n, 5)
    weight = np.fromfile(os.path.join(d, 'weight.f32'), np.float32)
    slide = np.fromfile(os.path.join(d, 'slide.i32'), np.int32)
    return meta, tiles, labels, weight, slide


class Net(nn.Module):
    def __init__(self, c=(16, 32, 64), n_classes=5):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

        self.f = nn.Sequential(
            block(3, c[0]), nn.MaxPool2d(2),  # 16x16
            block(c[0], c[1]), nn.MaxPool2d(2),  # 8x8
            block(c[1], c[2]), nn.MaxPool2d(2),  # 4x4
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(c[2] * 16, 64), nn.ReLU(inplace=True), nn.Linear(64, n_classes))

    def forward(self, x):
        return self.head(self.f(x))


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return F.softmax(self.net(image), dim=1)


# Ruifrok & Johnston H&E-DAB stain vectors (rows: H, E, D), as in skimage.color.rgb2hed
RGB_FROM_HED = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float32)
HED_FROM_RGB = torch.linalg.inv(RGB_FROM_HED)


def augment(x, g):
    """x: float [B,3,T,T] in [0,1]. Stain (HED), brightness, saturation, per-channel jitter; flips / 90-degree rotations; noise."""
    B = x.shape[0]
    u = lambda *s: torch.rand(*s, generator=g)
    # HED-space stain jitter (Tellez et al. 2018): hed' = hed * a + b per stain
    od = -torch.log(x.clamp(min=1 / 255.0) * 255 / 256 + 1 / 512)
    hed = torch.einsum('bchw,cd->bdhw', od, HED_FROM_RGB)
    a = 1 + (u(B, 3, 1, 1) - 0.5) * 0.5  # 0.75..1.25
    b = (u(B, 3, 1, 1) - 0.5) * 0.1
    hed = hed * a + b
    od = torch.einsum('bdhw,dc->bchw', hed, RGB_FROM_HED).clamp(min=0)
    x = ((torch.exp(-od) - 1 / 512) * 256 / 255).clamp(0, 1)
    # per-channel gain / offset, brightness, saturation
    x = x * (1 + (u(B, 3, 1, 1) - 0.5) * 0.12) + (u(B, 3, 1, 1) - 0.5) * 0.06
    x = x + (u(B, 1, 1, 1) - 0.5) * 0.16
    grey = x.mean(1, keepdim=True)
    s = 0.7 + u(B, 1, 1, 1) * 0.6
    x = grey + (x - grey) * s
    x = x + torch.randn(x.shape, generator=g) * (u(B, 1, 1, 1) * 0.02)
    # geometry (the label is the central core: flips / rotations keep it)
    if u(1).item() < 0.5:
        x = x.flip(3)
    if u(1).item() < 0.5:
        x = x.flip(2)
    k = int(u(1).item() * 4)
    if k:
        x = torch.rot90(x, k, (2, 3))
    return x.clamp(0, 1)


def to_tensor(tiles):
    return torch.from_numpy(np.ascontiguousarray(tiles)).permute(0, 3, 1, 2).float().div_(255)


def predict(model, tiles, bs=2048):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(tiles), bs):
            out.append(F.softmax(model(to_tensor(tiles[i:i + bs])), 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 5), np.float32)


def tile_accuracy(p, labels):
    pred = p.argmax(1)
    maj = labels.argmax(1)
    pure = labels.max(1) > 0.99
    tissue = np.isin(maj, [1, 2, 3])
    per_class = {CLASSES[c]: float((pred[pure & (maj == c)] == c).mean()) if (pure & (maj == c)).any() else None for c in range(5)}
    return {
        'all_cores_vs_majority': float((pred == maj).mean()),
        'tissue_cores_vs_majority': float((pred[tissue] == maj[tissue]).mean()),
        'pure_cores': float((pred[pure] == maj[pure]).mean()),
        'pure_cores_per_class': per_class,
        'n_cores': int(len(pred)),
    }


def slide_fractions(p, weight, slide, meta):
    """Argmax area fractions per slide (cores weighted by their area inside the slide) vs ground truth."""
    rows = []
    for si, s in enumerate(meta['slides']):
        m = slide == si
        w = weight[m].astype(np.float64)
        pred = p[m].argmax(1)
        est = {CLASSES[c]: float(w[pred == c].sum() / w.sum()) for c in range(5)}
        err = {c: abs(est[c] - s['fractions'][c]) for c in CLASSES}
        rows.append({'seed': s['seed'], 'mpp': s['mpp'], 'estimated': est, 'truth': s['fractions'], 'abs_error': err, 'max_abs_error': max(err.values())})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/tmp/he-data')
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--max-minutes', type=float, default=18.0)
    ap.add_argument('--limit', type=int, default=0, help='use only the first N training tiles (smoke test)')
    args = ap.parse_args()
    t_start = time.time()

    _, tr_x, tr_y, _, _ = load(args.data, 'train')
    if args.limit:
        tr_x, tr_y = tr_x[:args.limit], tr_y[:args.limit]
    va_meta, va_x, va_y, va_w, va_s = load(args.data, 'val')
    print(f'train {len(tr_x)} tiles, val {len(va_x)}; train label mass {np.round(tr_y.mean(0), 3)}', flush=True)

    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * (len(tr_x) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=max(1, steps), pct_start=0.15)
    g = torch.Generator().manual_seed(1234)
    rng = np.random.default_rng(1234)
    deadline = t_start + args.max_minutes * 60
    step = 0
    stopped_early = False
    for ep in range(args.epochs):
        model.train()
        perm = rng.permutation(len(tr_x))
        t0 = time.time()
        tot = 0.0
        nb = 0
        for bi in range(0, len(perm) - args.batch + 1, args.batch):
            idx = np.sort(perm[bi:bi + args.batch])
            x = augment(to_tensor(tr_x[idx]), g)
            y = torch.from_numpy(tr_y[idx])
            loss = -(y * F.log_softmax(model(x), 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step < steps - 1:
                sched.step()
            step += 1
            tot += loss.item()
            nb += 1
            if nb % 200 == 0:
                print(f'  ep {ep} batch {nb} loss {tot / nb:.4f} ({time.time() - t0:.0f} s)', flush=True)
            if time.time() > deadline:
                stopped_early = True
                break
        acc = tile_accuracy(predict(model, va_x), va_y)
        print(f'epoch {ep}: loss {tot / max(1, nb):.4f}, val {acc["all_cores_vs_majority"]:.4f} tissue {acc["tissue_cores_vs_majority"]:.4f} pure {acc["pure_cores"]:.4f} ({time.time() - t0:.0f} s)', flush=True)
        if stopped_early:
            print('time budget reached, stopping', flush=True)
            break
    train_s = time.time() - t_start

    model.eval()
    val_acc = tile_accuracy(predict(model, va_x), va_y)
    ev_meta, ev_x, ev_y, ev_w, ev_s = load(args.data, 'eval')
    ev_p = predict(model, ev_x)
    ev_rows = slide_fractions(ev_p, ev_w, ev_s, ev_meta)
    ev_acc = tile_accuracy(ev_p, ev_y)
    max_err = max(r['max_abs_error'] for r in ev_rows)
    mean_err = {c: float(np.mean([r['abs_error'][c] for r in ev_rows])) for c in CLASSES}
    print(f'eval slides: max abs fraction error {max_err:.4f}; mean per class {mean_err}', flush=True)

    path = os.path.join(OUT_DIR, 'model.onnx')
    wrapped = WithSoftmax(model).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 3, T, T), path, input_names=['image'], output_names=['probs'],
                      dynamic_axes={'image': {0: 'N'}, 'probs': {0: 'N'}}, opset_version=13, do_constant_folding=True)
    # check the export against torch
    try:
        import onnx
        onnx.checker.check_model(onnx.load(path))
    except ImportError:
        pass
    metrics = {
        'train_seconds': round(train_s, 1),
        'epochs_run': ep + 1,
        'stopped_early': stopped_early,
        'n_train_tiles': int(len(tr_x)),
        'val_tile_accuracy': val_acc,
        'eval_tile_accuracy': ev_acc,
        'eval_slide_fraction_abs_error_max': max_err,
        'eval_slide_fraction_abs_error_mean': mean_err,
        'eval_slides': ev_rows,
        'torch': torch.__version__,
    }
    json.dump(metrics, open(os.path.join(HERE, 'metrics.json'), 'w'), indent=1)
    print(json.dumps({k: v for k, v in metrics.items() if k != 'eval_slides'}, indent=1))


if __name__ == '__main__':
    main()
