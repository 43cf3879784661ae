"""usage: pixeldata_equal.py <a.dcm> <b.dcm>: prints JSON {ts_a, ts_b, equal} comparing native PixelData bytes (pydicom)."""
import json, sys
import pydicom
a, b = pydicom.dcmread(sys.argv[1]), pydicom.dcmread(sys.argv[2])
print(json.dumps({'ts_a': str(a.file_meta.TransferSyntaxUID), 'ts_b': str(b.file_meta.TransferSyntaxUID),
                  'equal': a.PixelData == b.PixelData, 'len': len(a.PixelData)}))
