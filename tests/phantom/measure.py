"""Independent measurement of phantom lesions with pydicom (not our TypeScript reader).

usage: measure.py <ground_truth.json> <root dir>
For each present lesion row: loads the series (files under <root>/<subject>/<visit>), sorts by
ImagePositionPatient z, converts to HU with the rescale, and measures on the pixels:
- hu_center: HU of the voxel nearest the lesion centre;
- ld: longest distance between voxel centres of the lesion in the slice through its centre;
- sa: extent perpendicular to that longest direction;
- volume: voxel count x voxel volume over all slices.
A voxel belongs to the lesion when HU == lesion HU (noise-free phantoms) and lies within 1.5 semi-axes a
of the centre. Absent lesions (present = false) report the count of lesion-HU voxels near the centre. Prints one JSON object per line.
"""
import glob, json, os, sys
import numpy as np
import pydicom

gt = json.load(open(sys.argv[1]))
root = sys.argv[2]
cache = {}

def series(subject, visit):
    key = (subject, visit)
    if key not in cache:
        ds = [pydicom.dcmread(p) for p in glob.glob(os.path.join(root, subject, visit, '*.dcm'))]
        ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
        vol = np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
        ipp = np.array([[float(v) for v in d.ImagePositionPatient] for d in ds])
        ps = [float(v) for v in ds[0].PixelSpacing]
        cache[key] = (vol, ipp, ps)
    return cache[key]

for r in gt:
    vol, ipp, (psr, psc) = series(r['subjectId'], r['visit'])
    z = ipp[:, 2]
    k = int(np.argmin(np.abs(z - r['centerZ'])))
    nz, rows, cols = vol.shape
    xs = ipp[0, 0] + np.arange(cols) * psc
    ys = ipp[0, 1] + np.arange(rows) * psr
    X, Y = np.meshgrid(xs, ys)
    near = (X - r['centerX']) ** 2 + (Y - r['centerY']) ** 2 <= (1.5 * r['semiA']) ** 2
    i = int(np.argmin(np.abs(xs - r['centerX'])))
    j = int(np.argmin(np.abs(ys - r['centerY'])))
    mask = (vol[k] == r['hu']) & near
    dz = float(np.median(np.diff(z))) if nz > 1 else 1.0
    count = int(sum(((vol[kk] == r['hu']) & near).sum() for kk in range(nz) if abs(z[kk] - r['centerZ']) <= r['semiC'] + dz))
    if not r['present']:
        print(json.dumps({'subjectId': r['subjectId'], 'visit': r['visit'], 'lesionId': r['lesionId'], 'present': False, 'count': int(mask.sum())}))
        continue
    pts = np.stack([X[mask], Y[mask]], axis=1)
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    a, b = np.unravel_index(np.argmax(d2), d2.shape)
    ld = float(np.sqrt(d2[a, b]))
    u = (pts[b] - pts[a]) / ld
    perp = pts @ np.array([-u[1], u[0]])
    sa = float(perp.max() - perp.min())
    print(json.dumps({'subjectId': r['subjectId'], 'visit': r['visit'], 'lesionId': r['lesionId'], 'present': True, 'hu_center': float(vol[k, j, i]),
                      'ld': ld, 'sa': sa, 'volume': count * psr * psc * dz, 'ps': psc, 'dz': dz}))
