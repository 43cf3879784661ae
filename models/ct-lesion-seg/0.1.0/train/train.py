#!/usr/bin/python3
"""Trains the 2.5D CT lesion U-Net on crops written by make_data.ts and exports model.onnx.

  nice -n 10 /usr/bin/python3 models/ct-lesion-seg/0.1.0/train/train.py [--iters N] [--threads 2]

Input `image` [N,3,128,128]: HU of slices k-1,k,k+1 clipped to [-200,300] and scaled to [0,1].
Output `pred` [N,4,128,128]: softmax probabilities (0 bg, 1 liver lesion, 2 lung lesion, 3 lymph node lesion).
Loss: cross-entropy + soft Dice (classes 1-3). Adam, cosine LR. Seeds fixed (torch 0, numpy 0).
"""
import argparse, glob, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = os.path.dirname(HERE)
DATA = os.environ.get('CTSEG_DATA', '/tmp/ctseg-data')
LO, HI = -200.0, 300.0
CROP, ROI = 160, 128


def block(ci, co):
    return nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True),
                         nn.Conv2d(co, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, ch=(16, 32, 64, 128), cin=3, ncls=4):
        super().__init__()
        self.e1, self.e2, self.e3, self.e4 = block(cin, ch[0]), block(ch[0], ch[1]), block(ch[1], ch[2]), block(ch[2], ch[3])
        self.u3 = nn.ConvTranspose2d(ch[3], ch[2], 2, stride=2)
        self.d3 = block(2 * ch[2], ch[2])
        self.u2 = nn.ConvTranspose2d(ch[2], ch[1], 2, stride=2)
        self.d2 = block(2 * ch[1], ch[1])
        self.u1 = nn.ConvTranspose2d(ch[1], ch[0], 2, stride=2)
        self.d1 = block(2 * ch[0], ch[0])
        self.head = nn.Conv2d(ch[0], ncls, 1)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        e4 = self.e4(F.max_pool2d(e3, 2))
        d3 = self.d3(torch.cat([self.u3(e4), e3], 1))
        d2 = self.d2(torch.cat([self.u2(d3), e2], 1))
        d1 = self.d1(torch.cat([self.u1(d2), e1], 1))
        return self.head(d1)


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return torch.softmax(self.net(image), dim=1)


def load():
    xs, ys = [], []
    for j in sorted(glob.glob(os.path.join(DATA, 'train-*.json'))):
        meta = json.load(open(j))
        base = j[:-5]
        n = meta['n']
        xs.append(np.fromfile(base + '-x.i16', dtype='<i2').reshape(n, 3, CROP, CROP))
        ys.append(np.fromfile(base + '-y.u8', dtype=np.uint8).reshape(n, CROP, CROP))
    return np.concatenate(xs), np.concatenate(ys)


def norm(x):
    return (np.clip(x.astype(np.float32), LO, HI) - LO) / (HI - LO)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--iters', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--bench', action='store_true')
    ap.add_argument('--init', default=None, help='continue from a state_dict (fine-tuning round)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--outdir', default=OUTDIR, help='version folder to write model.onnx into (default this version: 0.1.0)')
    ap.add_argument('--log', default=None, help='train_log.json to write (default train/train_log.json)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    X, Y = load()
    n = len(X)
    nval = min(400, n // 10)
    tr, va = np.arange(n - nval), np.arange(n - nval, n)
    print(f'crops {n} (train {len(tr)}, val {nval}); label fractions', np.bincount(Y.ravel(), minlength=4) / Y.size, flush=True)
    net = UNet()
    if a.init:
        net.load_state_dict(torch.load(a.init))
    print('params', sum(p.numel() for p in net.parameters()), flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.iters, pct_start=0.05)
    t0 = time.time()

    def batch(idx, train=True):
        xb = np.empty((len(idx), 3, ROI, ROI), np.float32)
        yb = np.empty((len(idx), ROI, ROI), np.int64)
        for b, i in enumerate(idx):
            oy, ox = (rng.integers(0, CROP - ROI + 1, 2) if train else ((CROP - ROI) // 2,) * 2)
            xb[b] = norm(X[i, :, oy:oy + ROI, ox:ox + ROI])
            yb[b] = Y[i, oy:oy + ROI, ox:ox + ROI]
        return torch.from_numpy(xb), torch.from_numpy(yb)

    def loss_fn(logits, y):
        ce = F.cross_entropy(logits, y)
        p = torch.softmax(logits, 1)[:, 1:]
        oh = F.one_hot(y, 4).permute(0, 3, 1, 2)[:, 1:].float()
        inter = (p * oh).sum((0, 2, 3))
        den = p.sum((0, 2, 3)) + oh.sum((0, 2, 3))
        dice = (2 * inter + 1) / (den + 1)
        return ce + (1 - dice).mean()

    def validate():
        net.eval()
        tp = np.zeros(4); ps = np.zeros(4); gs = np.zeros(4)
        with torch.no_grad():
            for s in range(0, nval, 32):
                xb, yb = batch(va[s:s + 32], False)
                pr = net(xb).argmax(1).numpy(); yb = yb.numpy()
                for c in range(1, 4):
                    tp[c] += ((pr == c) & (yb == c)).sum(); ps[c] += (pr == c).sum(); gs[c] += (yb == c).sum()
                tp[0] += ((pr > 0) & (yb > 0)).sum(); ps[0] += (pr > 0).sum(); gs[0] += (yb > 0).sum()
        net.train()
        return 2 * tp / np.maximum(ps + gs, 1)

    net.train()
    for it in range(1, a.iters + 1):
        idx = rng.choice(tr, a.batch, replace=False)
        xb, yb = batch(idx)
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step(); sched.step()
        if a.bench and it == 10:
            print(f'bench: {(time.time() - t0) / 10:.3f} s/iter', flush=True); return
        if it % 100 == 0 or it == a.iters:
            msg = f'it {it} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} t {time.time() - t0:.0f}s'
            if it % 500 == 0 or it == a.iters:
                d = validate()
                msg += f' val dice fg {d[0]:.3f} liver {d[1]:.3f} lung {d[2]:.3f} node {d[3]:.3f}'
                torch.save(net.state_dict(), os.path.join(DATA, 'ckpt.pt'))
            print(msg, flush=True)
    train_s = time.time() - t0
    torch.save(net.state_dict(), os.path.join(DATA, 'final.pt'))
    export(net, os.path.join(a.outdir, 'model.onnx'))
    log_path = a.log or os.path.join(HERE, 'train_log.json')
    prev = json.load(open(log_path)) if a.init and os.path.exists(log_path) else {'rounds': []}
    rounds = prev.get('rounds', [prev])
    rounds.append({'iters': a.iters, 'batch': a.batch, 'lr': a.lr, 'seed': a.seed, 'init': a.init, 'threads': a.threads,
                   'train_seconds': round(train_s), 'crops': int(n), 'final_val_dice': [round(float(x), 4) for x in validate()]})
    json.dump({'rounds': rounds, 'train_seconds_total': sum(r['train_seconds'] for r in rounds)}, open(log_path, 'w'), indent=1)
    print(f'done in {train_s:.0f}s', flush=True)


def export(net, path):
    net.eval()
    m = WithSoftmax(net).eval()
    dummy = torch.zeros(1, 3, ROI, ROI)
    torch.onnx.export(m, dummy, path, input_names=['image'], output_names=['pred'], opset_version=13,
                      dynamic_axes={'image': {0: 'N'}, 'pred': {0: 'N'}}, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(path))
    print('exported', path, flush=True)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--export-from':
        net = UNet(); net.load_state_dict(torch.load(sys.argv[2])); export(net, os.path.join(OUTDIR, 'model.onnx'))
    else:
        main()
