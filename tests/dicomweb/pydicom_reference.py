"""Independent reference for the DICOMweb tests: pydicom reads the stored blinded object, and Python's own
email package parses the multipart/related answers (no code shared with the service).

  pydicom_reference.py json <file.dcm> <uri-prefix> [...]   -> the DICOM JSON model of each file by pydicom (to_json_dict)
  pydicom_reference.py frames <file.dcm> <body> <content-type> <n,n,...>
        -> {"parts": [...], "equal": [...]}: every part's headers, and whether its bytes equal pydicom's frame
           (native little endian: the raw Pixel Data slice; otherwise pixel_array as little-endian bytes)
  pydicom_reference.py instance <body> <content-type>         -> each part read by pydicom: UIDs, tags present, pixel sha256
"""
import hashlib
import json
import sys
from email.parser import BytesParser
from email import policy

import numpy as np
import pydicom

NATIVE_LE = {'1.2.840.10008.1.2', '1.2.840.10008.1.2.1'}


def parse_multipart(body_path, content_type):
    body = open(body_path, 'rb').read()
    msg = BytesParser(policy=policy.HTTP).parsebytes(b'Content-Type: ' + content_type.encode('latin1') + b'\r\n\r\n' + body)
    if not msg.is_multipart():
        raise SystemExit('not a multipart message: ' + content_type)
    if msg.defects:
        raise SystemExit('multipart defects: %r' % msg.defects)
    parts = []
    for p in msg.iter_parts():
        payload = p.get_payload(decode=True)
        ct = p['content-type']
        parts.append(({'type': p.get_content_type(), 'params': dict(ct.params), 'headers': sorted(k.lower() for k in p.keys())}, payload))
    # the epilogue/preamble must be empty: the body starts with the first boundary and ends with the closing one
    return msg, parts


def frame_bytes(ds, n):
    ts = str(ds.file_meta.TransferSyntaxUID)
    rows, cols = int(ds.Rows), int(ds.Columns)
    spp = int(getattr(ds, 'SamplesPerPixel', 1))
    ba = int(ds.BitsAllocated)
    nframes = int(getattr(ds, 'NumberOfFrames', 1) or 1)
    if ts in NATIVE_LE and not (spp == 3 and int(getattr(ds, 'PlanarConfiguration', 0)) == 1):
        size = rows * cols * spp * ba // 8
        return bytes(ds.PixelData[(n - 1) * size:n * size])
    arr = ds.pixel_array
    if nframes > 1:
        arr = arr[n - 1]
    dt = arr.dtype.newbyteorder('<')
    return np.ascontiguousarray(arr.astype(dt)).tobytes()


def main():
    cmd = sys.argv[1]
    if cmd == 'json':
        out = []
        for path, prefix in zip(sys.argv[2::2], sys.argv[3::2]):
            ds = pydicom.dcmread(path)
            out.append(ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda el, prefix=prefix: '%s/bulkdata/%08X' % (prefix, el.tag)))
        print(json.dumps(out))
    elif cmd == 'frames':
        ds = pydicom.dcmread(sys.argv[2])
        msg, parts = parse_multipart(sys.argv[3], sys.argv[4])
        numbers = [int(x) for x in sys.argv[5].split(',')]
        equal = []
        for (headers, payload), n in zip(parts, numbers):
            equal.append(payload == frame_bytes(ds, n))
        print(json.dumps({'type': msg.get_content_type(), 'params': dict(msg['content-type'].params), 'parts': [h for h, _ in parts], 'sizes': [len(p) for _, p in parts], 'sha256': [hashlib.sha256(p).hexdigest() for _, p in parts], 'equal': equal}))
    elif cmd == 'instance':
        import io
        msg, parts = parse_multipart(sys.argv[2], sys.argv[3])
        out = []
        for headers, payload in parts:
            ds = pydicom.dcmread(io.BytesIO(payload))
            out.append({
                'headers': headers,
                'sop': str(ds.SOPInstanceUID),
                'ts': str(ds.file_meta.TransferSyntaxUID),
                'patientId': str(ds.get('PatientID', '')),
                'tags': ['%08X' % t for t in ds.keys()],
                'pixelSha256': hashlib.sha256(bytes(ds.PixelData)).hexdigest() if 'PixelData' in ds else None,
            })
        print(json.dumps(out))
    else:
        raise SystemExit('unknown command ' + cmd)


if __name__ == '__main__':
    main()
