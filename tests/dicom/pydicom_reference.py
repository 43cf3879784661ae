"""Independent reference reader for the dicom tests: pydicom 2.3 + numpy (Debian python3-pydicom).

usage: /usr/bin/python3 pydicom_reference.py [--gdcm] [--hu] OUT_DIR FILE...
Writes OUT_DIR/result.json: per file the header fields, and when pydicom can decode the pixels,
OUT_DIR/<n>.f64 holding pydicom's pixel_array (stored values, float64, C order) plus its shape.
--gdcm: decode with pydicom's GDCM handler (Debian python3-gdcm; fails if it is missing) instead of the
        fixed numpy/Pillow/RLE set, e.g. for 12-bit JPEG, which Pillow cannot decode.
--hu:   also write OUT_DIR/<n>.hu.f64: pydicom's apply_modality_lut per frame, with the frame's Pixel Value
        Transformation item of an enhanced object (per-frame, else shared functional group), else the data set.
"""
import json
import os
import sys
import tempfile
import warnings

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import convert_color_space

warnings.simplefilter("ignore")
# Fixed handler set (numpy, Pillow, RLE) so results do not depend on optional codecs such as python3-gdcm
# being installed; syntaxes these cannot decode are compared with their uncompressed twins instead.
from pydicom.pixel_data_handlers import numpy_handler, pillow_handler, rle_handler  # noqa: E402

pydicom.config.pixel_data_handlers = [numpy_handler, pillow_handler, rle_handler]
from pydicom.pixel_data_handlers.util import apply_modality_lut  # noqa: E402

args = sys.argv[1:]
use_gdcm = "--gdcm" in args
want_hu = "--hu" in args
args = [a for a in args if a not in ("--gdcm", "--hu")]
out_dir, files = args[0], args[1:]
if use_gdcm:
    from pydicom.pixel_data_handlers import gdcm_handler  # noqa: E402

    if not gdcm_handler.is_available():
        sys.exit("pydicom_reference.py --gdcm: python3-gdcm is not installed")
    import gdcm  # noqa: E402

    gdcm.Trace.WarningOff()
    pydicom.config.pixel_data_handlers = [gdcm_handler, numpy_handler]
res = []


def pixel_array(ds):
    """ds.pixel_array; with GDCM, its libjpeg chatter on fd 2 is captured instead of printed."""
    if not use_gdcm:
        return ds.pixel_array, None
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            arr = ds.pixel_array
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return arr, tmp.read().decode("latin-1").strip() or None


def modality_lut_item(ds, i):
    """The data set holding frame i's rescale: per-frame, then shared Pixel Value Transformation, else ds."""
    for seq in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        groups = ds.get(seq)
        if not groups:
            continue
        g = groups[i] if seq.startswith("PerFrame") and i < len(groups) else groups[0]
        pvt = g.get("PixelValueTransformationSequence")
        if pvt:
            return pvt[0]
    return ds


def s(v):
    return None if v is None else str(v)


for n, f in enumerate(files):
    r = {"file": f}
    try:
        ds = pydicom.dcmread(f, force=True)
        g = ds.get
        r["header"] = {
            "PatientID": s(g("PatientID")),
            "PatientName": s(g("PatientName")),
            "StudyInstanceUID": s(g("StudyInstanceUID")),
            "SeriesInstanceUID": s(g("SeriesInstanceUID")),
            "SOPInstanceUID": s(g("SOPInstanceUID")),
            "Modality": s(g("Modality")),
            "StudyDate": s(g("StudyDate")),
            "Rows": g("Rows"),
            "Columns": g("Columns"),
            "ImageType": [str(x) for x in g("ImageType")] if g("ImageType") is not None else None,
            "ImagePositionPatient": [float(x) for x in g("ImagePositionPatient")] if g("ImagePositionPatient") is not None else None,
            "PixelSpacing": [float(x) for x in g("PixelSpacing")] if g("PixelSpacing") is not None else None,
            "RescaleIntercept": float(g("RescaleIntercept")) if g("RescaleIntercept") is not None else None,
            "RescaleSlope": float(g("RescaleSlope")) if g("RescaleSlope") is not None else None,
        }
        try:
            arr, noise = pixel_array(ds)
            if noise:
                r["stderr"] = noise
            # pydicom 2.3 (Pillow) leaves JPEG colour as YCbCr; our codec gives RGB, so convert for comparison.
            if ds.get("SamplesPerPixel", 1) == 3 and str(ds.get("PhotometricInterpretation", "")).startswith("YBR_FULL") \
                    and ds.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"):
                arr = convert_color_space(arr, "YBR_FULL", "RGB")
            if want_hu and ds.get("SamplesPerPixel", 1) == 1:
                frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[np.newaxis]
                hu = np.stack([apply_modality_lut(f, modality_lut_item(ds, i)) for i, f in enumerate(frames)])
                np.ascontiguousarray(hu, dtype=np.float64).tofile(f"{out_dir}/{n}.hu.f64")
                r["hu"] = {"file": f"{out_dir}/{n}.hu.f64", "shape": list(hu.shape)}
            arr = np.ascontiguousarray(arr, dtype=np.float64)
            arr.tofile(f"{out_dir}/{n}.f64")
            r["pixels"] = {"file": f"{out_dir}/{n}.f64", "shape": list(arr.shape)}
        except Exception as e:  # noqa: BLE001 - a missing codec is expected for some syntaxes
            r["pixelError"] = f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001
        r["error"] = f"{type(e).__name__}: {e}"
    res.append(r)
with open(f"{out_dir}/result.json", "w") as fh:
    json.dump(res, fh)
