"""Independent reference reader for the dicom tests: pydicom 2.3 + numpy (Debian python3-pydicom).

usage: /usr/bin/python3 pydicom_reference.py OUT_DIR FILE...
Writes OUT_DIR/result.json: per file the header fields, and when pydicom can decode the pixels,
OUT_DIR/<n>.f64 holding pydicom's pixel_array (stored values, float64, C order) plus its shape.
"""
import json
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import convert_color_space

warnings.simplefilter("ignore")
# Fixed handler set (numpy, Pillow, RLE) so results do not depend on optional codecs such as python3-gdcm
# being installed; syntaxes these cannot decode are compared with their uncompressed twins instead.
from pydicom.pixel_data_handlers import numpy_handler, pillow_handler, rle_handler  # noqa: E402

pydicom.config.pixel_data_handlers = [numpy_handler, pillow_handler, rle_handler]
out_dir, files = sys.argv[1], sys.argv[2:]
res = []


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
            arr = ds.pixel_array
            # pydicom 2.3 (Pillow) leaves JPEG colour as YCbCr; our codec gives RGB, so convert for comparison.
            if ds.get("SamplesPerPixel", 1) == 3 and str(ds.get("PhotometricInterpretation", "")).startswith("YBR_FULL") \
                    and ds.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"):
                arr = convert_color_space(arr, "YBR_FULL", "RGB")
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
